// Tests of the cluster's TLS folder (actors/cluster_tls.hpp) and of the wire it sets up: folders
// made by write_cluster_certs check, broken ones get errors naming the file; two actor systems in
// this process talk over CAF's OpenSSL module when they hold the same folder and cannot when one
// holds another cluster's, or none; a peer that is not TLS never gets a BASP frame read (the
// server stays up and serves the next member); the plain-TCP policy of check_cluster.
// Real processes across network namespaces: tests/hosts.test.cpp.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/caf_types.hpp"
#include "actors/cluster.hpp"
#include "actors/cluster_tls.hpp"

using namespace aha;
using namespace aha::actors;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("aha_tls_" + std::to_string(::getpid()) + "_" + std::to_string(rand()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

cluster_config with_tls(const fs::path& dir) {
  cluster_config c;
  c.secret = "s";
  c.tls_dir = dir.string();
  c.heartbeat = std::chrono::milliseconds(100);
  c.connection_timeout = std::chrono::seconds(5);
  return c;
}

caf::actor_system_config system_config(const cluster_config& c) {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("middleman.attach-utility-actors", true);
  add_message_types(cfg);
  configure_middleman(cfg, c);
  return cfg;
}

// An echo server published with TLS on a free loopback port.
caf::behavior echo(caf::event_based_actor*) {
  return {[](const std::string& text) { return "echo:" + text; }};
}

long resident_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "VmRSS:") return in >> value, value;
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

}  // namespace

TEST_CASE("cluster tls: a folder made by aha cluster certs checks and broken ones name the file") {
  temp_dir dir;
  auto made = dir.path / "a";
  REQUIRE(tls::write_cluster_certs(made, 30).ok());
  auto files = tls::load_tls_dir(made, "cluster.tls_dir");
  REQUIRE(files.ok());
  CHECK(files->ca == (made / "ca.pem").string());
  struct ::stat st {};
  REQUIRE(::stat(files->key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // Never overwritten.
  auto again = tls::write_cluster_certs(made, 30);
  REQUIRE(!again.ok());
  CHECK(again.error().message.find("never overwritten") != std::string::npos);

  // Missing folder, missing file, garbage, a key of another cluster, a CA of another cluster.
  CHECK(tls::load_tls_dir(dir.path / "none", "cluster.tls_dir").error().message.find("not a folder") != std::string::npos);
  auto other = dir.path / "b";
  REQUIRE(tls::write_cluster_certs(other, 30).ok());
  auto mixed = dir.path / "mixed";
  fs::create_directories(mixed);
  fs::copy_file(made / "ca.pem", mixed / "ca.pem");
  fs::copy_file(made / "cert.pem", mixed / "cert.pem");
  auto missing = tls::load_tls_dir(mixed, "cluster.tls_dir");
  REQUIRE(!missing.ok());
  CHECK(missing.error().message.find("key.pem") != std::string::npos);
  std::ofstream(mixed / "key.pem") << "not a key\n";
  fs::permissions(mixed / "key.pem", fs::perms::owner_read | fs::perms::owner_write);
  auto garbage = tls::load_tls_dir(mixed, "cluster.tls_dir");
  REQUIRE(!garbage.ok());
  CHECK(garbage.error().message.find("not an unencrypted PEM private key") != std::string::npos);
  fs::copy_file(other / "key.pem", mixed / "key.pem", fs::copy_options::overwrite_existing);
  auto wrong_key = tls::load_tls_dir(mixed, "cluster.tls_dir");
  REQUIRE(!wrong_key.ok());
  CHECK(wrong_key.error().message.find("is not the private key of cert.pem") != std::string::npos);
  fs::copy_file(made / "key.pem", mixed / "key.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(other / "ca.pem", mixed / "ca.pem", fs::copy_options::overwrite_existing);
  auto wrong_ca = tls::load_tls_dir(mixed, "cluster.tls_dir");
  REQUIRE(!wrong_ca.ok());
  CHECK(wrong_ca.error().message.find("does not verify against ca.pem") != std::string::npos);
  fs::copy_file(made / "ca.pem", mixed / "ca.pem", fs::copy_options::overwrite_existing);
  fs::permissions(mixed / "key.pem", fs::perms::group_read, fs::perm_options::add);
  auto readable = tls::load_tls_dir(mixed, "cluster.tls_dir");
  REQUIRE(!readable.ok());
  CHECK(readable.error().message.find("chmod 600") != std::string::npos);
}

TEST_CASE("cluster tls: plain TCP beyond loopback needs cluster.plaintext and a bad tls_dir stops the start") {
  cluster_config c;
  c.secret = "s";
  c.listen = "127.0.0.1:0";
  CHECK(check_cluster(c).ok());
  c.listen = "10.9.0.1:7070";
  auto refused = check_cluster(c);
  REQUIRE(!refused.ok());
  CHECK(refused.error().message.find("cluster.tls_dir") != std::string::npos);
  CHECK(!check_cluster(c, "192.168.1.5:7070").ok());  // a node joining over the network, too
  CHECK(check_cluster(c, "localhost:7070").ok());
  c.plaintext = true;
  CHECK(check_cluster(c).ok());
  c.plaintext = false;
  c.tls_dir = "/nonexistent/aha-tls";
  auto missing = check_cluster(c);
  REQUIRE(!missing.ok());
  CHECK(missing.error().message.find("cluster.tls_dir") != std::string::npos);
  CHECK(is_loopback("127.8.9.1"));
  CHECK(!is_loopback("10.0.0.1"));
}

TEST_CASE("cluster tls: members talk over TLS but another cluster's certificate or plain TCP gets nothing") {
  temp_dir dir;
  REQUIRE(tls::write_cluster_certs(dir.path / "ours", 30).ok());
  REQUIRE(tls::write_cluster_certs(dir.path / "theirs", 30).ok());
  auto ours = with_tls(dir.path / "ours");
  REQUIRE(check_cluster(ours).ok());

  auto server_cfg = system_config(ours);
  caf::actor_system server{server_cfg};
  auto actor = server.spawn(echo);
  auto port = caf::openssl::publish(actor, 0, "127.0.0.1", true);
  REQUIRE(port);

  // 1. A peer that is not TLS at all: a BASP-sized header announcing a 2 GiB payload (plain
  //    BASP would size its buffer from it, before any authentication: 2 GiB touched). Behind TLS
  //    it is a malformed ClientHello: the handshake fails, nothing is answered, nothing of that
  //    size is allocated (this process's resident memory, where the server lives, stays flat).
  const auto rss_before = resident_kib();
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(*port);
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0);
    unsigned char header[64] = {};
    header[0] = 0x01;                                      // a BASP handshake operation
    header[4] = 0x7f, header[5] = 0xff, header[6] = 0xff;  // payload length ~2 GiB
    CHECK(::send(fd, header, sizeof header, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof header));
    char reply[256];
    std::string junk(1 << 20, 'x');  // and a megabyte more, as the "payload"
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ssize_t got = 0, total = 0;
    while ((got = ::recv(fd, reply, sizeof reply, 0)) > 0) total += got;
    CHECK(total < 256);  // at most a TLS alert came back, never a BASP handshake
    ::close(fd);
  }
  CHECK(resident_kib() - rss_before < 256 * 1024);

  // 2. A member: same folder, a real request answered through the tunnel.
  {
    auto client_cfg = system_config(ours);
    caf::actor_system client{client_cfg};
    auto remote = caf::openssl::remote_actor(client, "127.0.0.1", *port);
    REQUIRE(remote);
    caf::scoped_actor self{client};
    std::string answer;
    self->request(*remote, std::chrono::seconds(10), std::string("hi")).receive(
        [&](const std::string& x) { answer = x; }, [&](caf::error&) {});
    CHECK(answer == "echo:hi");
  }

  // 3. Another cluster's certificate: the handshake fails, no actor is reached.
  {
    auto theirs = with_tls(dir.path / "theirs");
    auto client_cfg = system_config(theirs);
    caf::actor_system client{client_cfg};
    auto remote = caf::openssl::remote_actor(client, "127.0.0.1", *port);
    CHECK(!remote);
  }

  // 4. Plain BASP (no TLS) against the TLS port: refused.
  {
    cluster_config plain;
    plain.secret = "s";
    auto client_cfg = system_config(plain);
    caf::actor_system client{client_cfg};
    auto remote = client.middleman().remote_actor(std::string("127.0.0.1"), *port);
    CHECK(!remote);
  }

  // 5. The server still serves members after all that.
  {
    auto client_cfg = system_config(ours);
    caf::actor_system client{client_cfg};
    auto remote = caf::openssl::remote_actor(client, "127.0.0.1", *port);
    REQUIRE(remote);
  }
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}
