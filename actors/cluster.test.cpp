// Tests of the cluster's pieces in one process: the authentication helpers (RFC 4231 vectors,
// constant-time comparison, secrets), settings and endpoints, and the registry's handshake on
// CAF's deterministic coordinator (challenges, wrong and right proofs, offers that reach the
// grader, a node's loss). Real processes: tests/cluster.test.cpp.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "actors/actor_test_support.hpp"
#include "actors/cluster.hpp"
#include "actors/cluster_auth.hpp"
#include "actors/grader.hpp"

using namespace aha;
using namespace aha::actors;
using aha::actors::testing::ask;

TEST_CASE("cluster auth: HMAC-SHA256 matches RFC 4231, proofs differ by role, comparison is exact") {
  // RFC 4231, test case 2.
  CHECK(auth::hmac_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  auto node = auth::node_proof("s3cret", "challenge", "nonce", "node-a");
  CHECK(node.size() == 64);
  CHECK(node != auth::controller_proof("s3cret", "challenge", "nonce", "node-a"));
  CHECK(node != auth::node_proof("s3cret", "challenge", "nonce", "node-b"));
  CHECK(node != auth::node_proof("other", "challenge", "nonce", "node-a"));
  CHECK(auth::equal_constant_time(node, auth::node_proof("s3cret", "challenge", "nonce", "node-a")));
  CHECK(!auth::equal_constant_time(node, node.substr(1)));
  CHECK(!auth::equal_constant_time(node, std::string(64, '0')));
  auto a = auth::random_nonce(), b = auth::random_nonce();
  CHECK(a.size() == 64);
  CHECK(a != b);
}

TEST_CASE("cluster settings: secrets, pools and endpoints are checked with what would be valid") {
  CHECK(!auth::load_secret("", "", "cluster.").ok());
  CHECK(!auth::load_secret("a", "b", "cluster.").ok());
  auto file = (std::filesystem::temp_directory_path() / ("aha_secret_" + std::to_string(::getpid()))).string();
  std::ofstream(file) << "from-file  \nsecond line\n";
  auto loaded = auth::load_secret("", file, "cluster.");
  REQUIRE(loaded.ok());
  CHECK(*loaded == "from-file");
  std::filesystem::remove(file);
  CHECK(auth::load_secret("", file, "cluster.").error().message.find(file) != std::string::npos);

  cluster_config config;
  config.secret = "x";
  CHECK(check_cluster(config).ok());
  config.remote_pools = {"cpu", "gpu"};
  auto bad = check_cluster(config);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("'gpu'") != std::string::npos);
  CHECK(redacted(config).secret == "<redacted>");

  auto at = parse_endpoint("127.0.0.1:7070", "--join");
  REQUIRE(at.ok());
  CHECK(at->host == "127.0.0.1");
  CHECK(at->port == 7070);
  CHECK(parse_endpoint("[::1]:0", "--join")->host == "::1");
  for (const char* wrong : {"7070", ":7070", "host:", "host:port", "host:70700"}) {
    INFO(wrong);
    CHECK(!parse_endpoint(wrong, "--join").ok());
  }
}

namespace {

protocol::reward_component constant(float v) {
  protocol::reward_component c;
  c.value = v;
  return c;
}

struct registry_fixture : testing::deterministic_system {
  grader_actor grader;
  cluster_registry_actor registry;
  caf::actor supervisor;  // stands in for a node's supervisor
  std::vector<std::string> log;
  registry_fixture() {
    std::vector<reward_spec> specs{{"accuracy", protocol::reward_kind::accuracy, 1.0f, std::chrono::milliseconds(100),
                                    {}, "cpu", [](const protocol::prompt&, const protocol::rollout&) { return constant(1); }}};
    grader = *spawn_grader(*sys, {}, replay_buffer_actor{}, specs, {{"cpu", 1}}, threading::scheduled);
    registry_setup setup;
    setup.secret = "s3cret";
    setup.remote_pools = {"cpu"};
    setup.reward_names = {"accuracy"};
    setup.grader = grader;
    setup.log = [this](const std::string& line) { log.push_back(line); };
    registry = spawn_cluster_registry(*sys, setup);
    supervisor = sys->spawn([] { return caf::behavior{[](done_atom) { return caf::ok_atom::value; }}; });
    run();
  }
  ~registry_fixture() {
    for (const caf::actor& a : {caf::actor_cast<caf::actor>(grader), caf::actor_cast<caf::actor>(registry), supervisor}) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
    run();
  }
  std::string challenge() {
    auto c = ask<std::string>(*sys, registry, hello_atom::value, kClusterProtocolVersion);
    run();
    REQUIRE(c->value);
    return *c->value;
  }
  // Joins as `name` with `secret`; the reply's error, or none.
  caf::error join(const std::string& name, const std::string& secret, std::string* proof = nullptr) {
    auto c = challenge();
    protocol::node_registration reg;
    reg.node_id = name;
    reg.auth_proof = auth::node_proof(secret, c, "nonce", name);
    auto out = std::make_shared<caf::error>();
    auto got = std::make_shared<std::string>();
    sys->spawn([=, registry = registry, supervisor = supervisor](caf::event_based_actor* self) {
      self->request(registry, caf::infinite, join_atom::value, reg, c, std::string("nonce"), supervisor)
          .then([=](std::string& p, std::string&) { *got = p; }, [=](caf::error& e) { *out = e; });
    });
    run();
    if (proof) *proof = *got;
    if (!*out) CHECK(*got == auth::controller_proof(secret, c, "nonce", name));
    return *out;
  }
  cluster_stats stats() {
    auto s = ask<cluster_stats>(*sys, registry, stats_atom::value);
    run();
    return *s->value;
  }
  grader_stats grading() {
    auto s = ask<grader_stats>(*sys, grader, stats_atom::value);
    run();
    return *s->value;
  }
};

}  // namespace

TEST_CASE("cluster registry: a wrong secret or protocol version is refused, with the reason") {
  registry_fixture f;
  auto old = ask<std::string>(*f.sys, f.registry, hello_atom::value, kClusterProtocolVersion + 1);
  f.run();
  REQUIRE(old->error);
  CHECK(errc_of(*old->error) == errc::version_mismatch);
  auto refused = f.join("node-a", "wrong");
  REQUIRE(refused);
  CHECK(errc_of(refused) == errc::denied);
  CHECK(describe(refused).find("cluster secret") != std::string::npos);
  CHECK(f.stats().refused == 2);
  CHECK(f.stats().nodes == 0);
  REQUIRE(!f.log.empty());
  CHECK(f.log.back().find("node-a") != std::string::npos);
}

TEST_CASE("cluster registry: a challenge is single use") {
  registry_fixture f;
  auto c = f.challenge();
  protocol::node_registration reg;
  reg.node_id = "node-a";
  reg.auth_proof = auth::node_proof("s3cret", c, "nonce", "node-a");
  std::vector<std::shared_ptr<testing::reply<std::string>>> replies;
  for (int i = 0; i < 2; ++i) {
    auto out = std::make_shared<testing::reply<std::string>>();
    f.sys->spawn([=, registry = f.registry, supervisor = f.supervisor](caf::event_based_actor* self) {
      self->request(registry, caf::infinite, join_atom::value, reg, c, std::string("nonce"), supervisor)
          .then([=](std::string& p, std::string&) { out->value = p; }, [=](caf::error& e) { out->error = e; });
    });
    f.run();
    replies.push_back(out);
  }
  CHECK(replies[0]->value);
  REQUIRE(replies[1]->error);  // a replayed join answers a challenge that is already spent
  CHECK(describe(*replies[1]->error).find("unknown or expired challenge") != std::string::npos);
}

TEST_CASE("cluster registry: a joined node's workers reach the grader and its loss is counted") {
  registry_fixture f;
  std::string proof;
  REQUIRE(!f.join("node-a", "s3cret", &proof));
  CHECK(f.stats().nodes == 1);
  REQUIRE(f.join("node-a", "s3cret"));  // the name is taken
  auto specs = std::make_shared<const std::vector<reward_spec>>(std::vector<reward_spec>{
      {"accuracy", protocol::reward_kind::accuracy, 1.0f, std::chrono::milliseconds(100), {}, "cpu",
       [](const protocol::prompt&, const protocol::rollout&) { return constant(1); }}});
  auto worker = caf::actor_cast<caf::actor>(spawn_reward_worker(*f.sys, specs, threading::scheduled));
  using names = std::vector<std::string>;
  using workers = std::vector<caf::actor>;
  auto stranger = ask<std::uint32_t>(*f.sys, f.registry, offer_atom::value, std::string("node-b"), names{"accuracy"},
                                     names{"cpu"}, workers{worker});
  auto other_rewards = ask<std::uint32_t>(*f.sys, f.registry, offer_atom::value, std::string("node-a"),
                                          names{"accuracy", "format"}, names{"cpu"}, workers{worker});
  auto other_pool = ask<std::uint32_t>(*f.sys, f.registry, offer_atom::value, std::string("node-a"), names{"accuracy"},
                                       names{"sandbox"}, workers{worker});
  f.run();
  REQUIRE(stranger->error);
  CHECK(errc_of(*stranger->error) == errc::denied);
  REQUIRE(other_rewards->error);
  CHECK(errc_of(*other_rewards->error) == errc::version_mismatch);
  REQUIRE(other_pool->error);
  CHECK(describe(*other_pool->error).find("cluster.remote_pools") != std::string::npos);
  CHECK(f.grading().remote_workers == 0);

  auto taken = ask<std::uint32_t>(*f.sys, f.registry, offer_atom::value, std::string("node-a"), names{"accuracy"},
                                  names{"cpu"}, workers{worker});
  f.run();
  REQUIRE(taken->value);
  CHECK(*taken->value == 1);
  CHECK(f.grading().remote_workers == 1);
  CHECK(f.stats().offered_workers == 1);

  caf::anon_send_exit(f.supervisor, caf::exit_reason::kill);  // the node's process is gone
  f.run();
  auto s = f.stats();
  CHECK(s.nodes == 0);
  CHECK(s.lost == 1);
  CHECK(s.joined == 1);
  CHECK(f.log.back().find("is gone") != std::string::npos);
}

TEST_CASE("cluster registry: one peer holds at most four open join challenges") {
  registry_fixture f;
  for (int i = 0; i < 4; ++i) f.challenge();
  auto fifth = ask<std::string>(*f.sys, f.registry, hello_atom::value, kClusterProtocolVersion);
  f.run();
  REQUIRE(fifth->error);
  CHECK(errc_of(*fifth->error) == errc::resource_limit);
  CHECK(f.stats().refused == 1);
}
