// The data-parallel group on loopback, ranks as threads of this process: sums and broadcasts are
// exact for 2 and 3 ranks (several buckets, two dtypes); a rank that leaves or stalls makes the
// others throw rank_lost within the timeout; a rendezvous nobody joins fails with a clear error.
#include "cluster/data_parallel.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "core/test_port.hpp"
#include "core/test_skip.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;
using namespace std::chrono_literals;

namespace {

cluster::data_parallel_config config_for(std::uint16_t port, int rank, int world, std::chrono::milliseconds timeout) {
  cluster::data_parallel_config c;
  c.rendezvous = "127.0.0.1:" + std::to_string(port);
  c.rank = rank;
  c.world = world;
  c.timeout = timeout;
  c.rendezvous_timeout = std::max(timeout, std::chrono::milliseconds(1000));
  c.bucket_bytes = 64;  // several buckets even for these small tensors
  return c;
}

// Runs body(group) on `world` threads, one rank each; returns each rank's failure text ("" = none).
std::vector<std::string> run_ranks(int world, std::chrono::milliseconds timeout,
                                   const std::function<void(cluster::data_parallel_group&)>& body) {
  const auto port = aha::testing::free_loopback_port();
  std::vector<std::string> failures(world);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      auto group = cluster::data_parallel_group::join(config_for(port, rank, world, timeout));
      if (!group) {
        failures[rank] = "join: " + group.error().message;
        return;
      }
      try {
        body(**group);
      } catch (const std::exception& e) {
        failures[rank] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return failures;
}

}  // namespace

TEST_CASE("data_parallel: sums and broadcasts are exact with 2 and 3 ranks") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  for (int world : {2, 3}) {
    INFO("world " << world);
    std::vector<std::vector<at::Tensor>> summed(world), broadcast(world);
    std::vector<std::string> bytes(world);
    auto failures = run_ranks(world, 20s, [&](cluster::data_parallel_group& group) {
      const int r = group.rank();
      // Integers in float32 (exact sums), three shapes, then an int64 tensor: several buckets.
      std::vector<at::Tensor> sums{at::arange(10, at::kFloat) * (r + 1), at::full({3, 4}, 0.5 * r, at::kFloat),
                                   at::ones({40}, at::kFloat), at::full({5}, std::int64_t{1} << (40 + r), at::kLong)};
      group.all_reduce_sum(sums);
      std::vector<at::Tensor> same{at::full({7}, static_cast<float>(r + 10)), at::full({2, 2}, std::int64_t{r})};
      group.broadcast(same, 0);
      std::string text = r == 0 ? std::string("rank zero's batch\0with a NUL", 27) : "other";
      group.broadcast_bytes(text, 0);
      summed[r] = sums, broadcast[r] = same, bytes[r] = text;
    });
    for (int r = 0; r < world; ++r) {
      INFO("rank " << r);
      REQUIRE(failures[r].empty());
      const double scale = world * (world + 1) / 2.0;  // sum of (r + 1)
      CHECK(at::equal(summed[r][0], at::arange(10, at::kFloat) * scale));
      CHECK(at::equal(summed[r][1], at::full({3, 4}, 0.5 * (world * (world - 1) / 2.0), at::kFloat)));
      CHECK(at::equal(summed[r][2], at::full({40}, static_cast<float>(world), at::kFloat)));
      std::int64_t big = 0;
      for (int k = 0; k < world; ++k) big += std::int64_t{1} << (40 + k);
      CHECK(at::equal(summed[r][3], at::full({5}, big, at::kLong)));
      CHECK(at::equal(broadcast[r][0], at::full({7}, 10.0f)));
      CHECK(at::equal(broadcast[r][1], at::zeros({2, 2}, at::kLong)));
      CHECK(bytes[r] == std::string("rank zero's batch\0with a NUL", 27));
    }
  }
}

TEST_CASE("data_parallel: a rank that leaves makes the others fail with a clear error, not hang") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  const auto started = std::chrono::steady_clock::now();
  auto failures = run_ranks(3, 3000ms, [](cluster::data_parallel_group& group) {
    std::vector<at::Tensor> t{at::ones({1000})};
    group.all_reduce_sum(t);  // all three are there once
    if (group.rank() == 2) return;  // rank 2 leaves: its group (sockets) is destroyed as the thread ends
    std::this_thread::sleep_for(200ms);
    group.all_reduce_sum(t);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(failures[2].empty());
  for (int r : {0, 1}) {
    INFO("rank " << r << ": " << failures[r]);
    CHECK(failures[r].find("data-parallel all-reduce failed on rank " + std::to_string(r) + " of 3") != std::string::npos);
    CHECK(failures[r].find("a rank was lost") != std::string::npos);
  }
  CHECK(seconds < 60);  // hang guard: the 3 s collective timeout bounds it
}

TEST_CASE("data_parallel: a rank that stops answering fails the others at the timeout") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  std::atomic<bool> released{false};
  auto failures = run_ranks(2, 1500ms, [&](cluster::data_parallel_group& group) {
    std::vector<at::Tensor> t{at::ones({10})};
    if (group.rank() == 1) {  // alive, connected, silent: only the timeout can tell
      while (!released) std::this_thread::sleep_for(10ms);
      return;
    }
    try {
      group.all_reduce_sum(t);
    } catch (...) {
      released = true;
      throw;
    }
    released = true;
  });
  INFO(failures[0]);
  CHECK(failures[0].find("did not answer within 1500 ms") != std::string::npos);
}

TEST_CASE("data_parallel: a rendezvous the other ranks never join fails with the address") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  auto group = cluster::data_parallel_group::join(config_for(aha::testing::free_loopback_port(), 0, 2, 1000ms));
  REQUIRE_FALSE(group);
  CHECK(group.error().code == errc::unavailable);
  CHECK(group.error().message.find("data-parallel rendezvous at 127.0.0.1:") != std::string::npos);
  CHECK(group.error().message.find("(rank 0 of 2) failed within 1000 ms") != std::string::npos);
}

TEST_CASE("data_parallel: endpoints and ranks are checked") {
  CHECK(cluster::parse_endpoint("10.0.0.1:29500"));
  CHECK(cluster::parse_endpoint("10.0.0.1:29500")->second == 29500);
  for (const char* bad : {"10.0.0.1", ":29500", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:70000", "h:12a"}) {
    INFO(bad);
    auto parsed = cluster::parse_endpoint(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message.find("is not IP:PORT") != std::string::npos);
  }
  cluster::data_parallel_config c;
  c.rendezvous = "127.0.0.1:1";
  c.rank = 2, c.world = 2;
  auto group = cluster::data_parallel_group::join(c);
  REQUIRE_FALSE(group);
  CHECK(group.error().message.find("outside 0..1") != std::string::npos);
}
