// The SandboxFusion-compatible HTTP service end to end: an in-process service on 127.0.0.1 (a
// free port) and real HTTP clients — cpp-httplib's, Python's urllib (a script run as a
// subprocess) and curl where installed. Runs (python, stdin, exit codes, timeouts, files in and
// out, bash, cpp with compile_result), HTTP errors (400, 401, 404, 405, 413, 422, 503) and that
// the service keeps serving after each.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/test_skip.hpp"
#include "sandbox/http_service.hpp"
#include "sandbox/sandbox_test_util.hpp"

using namespace aha::sandbox;
using nlohmann::json;

namespace {

// A service on a free loopback port, served by a background thread for the test's lifetime.
struct running_service {
  pool workers;
  std::unique_ptr<http_service> service;
  std::atomic<bool> stop{false};
  std::thread loop;

  explicit running_service(http_config config = {}, std::size_t worker_count = 2)
      : workers(testing::shared_executor(), worker_count, 8) {
    config.host = "127.0.0.1";
    config.port = 0;
    auto bound = http_service::bind(workers, std::move(config));
    REQUIRE(bound);
    service = std::move(*bound);
    loop = std::thread([this] { service->serve(stop); });
  }
  ~running_service() {
    stop = true;
    loop.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", service->port());
    c.set_read_timeout(60, 0);
    return c;
  }
};

// POSTs a JSON body to /run_code; the HTTP status and the parsed reply (null when not JSON).
std::pair<int, json> post(httplib::Client& c, const std::string& body, const httplib::Headers& headers = {}) {
  auto res = c.Post("/run_code", headers, body, "application/json");
  REQUIRE(res);
  return {res->status, json::parse(res->body, nullptr, false)};
}

json python(const std::string& code, json extra = json::object()) {
  extra["code"] = code;
  extra["language"] = "python";
  return extra;
}

bool program_exists(const char* path) { return access(path, X_OK) == 0; }

}  // namespace

TEST_CASE("http service runs python: stdout, stdin, exit codes, timeouts, files in and out", "[http]") {
  running_service s;
  auto c = s.client();

  auto [status, hello] = post(c, python("print('hello', 6 * 7)").dump());
  CHECK(status == 200);
  CHECK(hello["status"] == "Success");
  CHECK(hello["message"] == "");
  CHECK(hello["compile_result"].is_null());
  CHECK(hello["run_result"]["status"] == "Finished");
  CHECK(hello["run_result"]["return_code"] == 0);
  CHECK(hello["run_result"]["stdout"] == "hello 42\n");
  CHECK(hello["run_result"]["stderr"] == "");
  CHECK(hello["run_result"]["execution_time"].get<double>() > 0);

  auto [s2, echo] = post(c, python("print(input()[::-1])", {{"stdin", "abc\n"}}).dump());
  CHECK(echo["status"] == "Success");
  CHECK(echo["run_result"]["stdout"] == "cba\n");

  // SandboxFusion's client sends stdin as null when unset.
  auto [s3, null_stdin] = post(c, python("print('ok')", {{"stdin", nullptr}, {"files", json::object()}}).dump());
  CHECK(null_stdin["status"] == "Success");

  auto [s4, failed] = post(c, python("import sys; print('err', file=sys.stderr); sys.exit(3)").dump());
  CHECK(failed["status"] == "Failed");
  CHECK(failed["run_result"]["status"] == "Finished");
  CHECK(failed["run_result"]["return_code"] == 3);
  CHECK(failed["run_result"]["stderr"] == "err\n");

  auto [s5, raised] = post(c, python("raise ValueError('boom')").dump());
  CHECK(raised["status"] == "Failed");
  CHECK(raised["run_result"]["return_code"] == 1);
  CHECK(raised["run_result"]["stderr"].get<std::string>().find("ValueError: boom") != std::string::npos);

  auto [s6, slow] = post(c, python("while True: pass", {{"run_timeout", 0.5}}).dump());
  CHECK(slow["status"] == "Failed");
  CHECK(slow["run_result"]["status"] == "TimeLimitExceeded");
  CHECK(slow["run_result"]["return_code"].is_null());

  // A signal: the shell's report ("Segmentation fault") stays out of the program's stderr.
  auto [s10, crashed] = post(c, python("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)").dump());
  CHECK(crashed["status"] == "Failed");
  CHECK(crashed["run_result"]["return_code"] == 128 + 11);
  CHECK(crashed["run_result"]["stderr"] == "");

  // Output that is not UTF-8 still makes valid JSON (U+FFFD for the bad byte).
  auto [s8, binary] = post(c, python("import sys; sys.stdout.buffer.write(b'a\\xffb')").dump());
  CHECK(s8 == 200);
  CHECK(binary["run_result"]["stdout"] ==
        "a\xEF\xBF\xBD"
        "b");

  auto [s9, hungry] = post(c, python("x = bytearray(200 << 20); print(len(x))", {{"memory_limit_MB", 64}}).dump());
  CHECK(hungry["status"] == "Failed");
  CHECK(hungry["message"] == "memory limit exceeded");
  CHECK(hungry["run_result"]["stdout"] == "");

  // files: base64 in, relative to the working directory /tmp; fetch_files: base64 out.
  json with_files =
      python("print(open('data/in.txt').read(), end='')\nopen('out.txt', 'w').write('result 42')",
             {{"files", {{"data/in.txt", "aGVsbG8gZmlsZQo="}}}, {"fetch_files", {"out.txt", "missing.txt"}}});
  auto [s7, files] = post(c, with_files.dump());
  CHECK(files["status"] == "Success");
  CHECK(files["run_result"]["stdout"] == "hello file\n");
  CHECK(files["files"] == json{{"out.txt", "cmVzdWx0IDQy"}});

  testing::expect_nothing_left();
}

TEST_CASE("http service runs bash and cpp (compile_result) where installed", "[http]") {
  running_service s;
  auto c = s.client();
  auto [s1, bash] =
      post(c, json{{"language", "bash"}, {"code", "read x; echo \"got ${x^^}\"; exit 4"}, {"stdin", "hi\n"}}.dump());
  CHECK(bash["status"] == "Failed");
  CHECK(bash["run_result"]["stdout"] == "got HI\n");
  CHECK(bash["run_result"]["return_code"] == 4);

  if (!program_exists("/usr/bin/g++")) AHA_SKIP("no /usr/bin/g++: the cpp cases need a compiler");
  const std::string program =
      "#include <iostream>\nint main() { int a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n";
  auto [s2, cpp] = post(c, json{{"language", "cpp"}, {"code", program}, {"stdin", "2 40"}}.dump());
  CHECK(cpp["status"] == "Success");
  CHECK(cpp["compile_result"]["status"] == "Finished");
  CHECK(cpp["compile_result"]["return_code"] == 0);
  CHECK(cpp["run_result"]["stdout"] == "42\n");
  CHECK(cpp["run_result"]["stderr"] == "");

  auto [s4, endless] =
      post(c, json{{"language", "cpp"}, {"code", "int main() { for (;;) {} }"}, {"run_timeout", 0.5}}.dump());
  CHECK(endless["status"] == "Failed");
  CHECK(endless["compile_result"]["return_code"] == 0);
  CHECK(endless["run_result"]["status"] == "TimeLimitExceeded");
  CHECK(endless["run_result"]["return_code"].is_null());

  auto [s3, broken] = post(c, json{{"language", "cpp"}, {"code", "int main() { return x; }"}}.dump());
  CHECK(broken["status"] == "Failed");
  CHECK(broken["compile_result"]["return_code"] != 0);
  CHECK(broken["compile_result"]["stderr"].get<std::string>().find("error") != std::string::npos);
  CHECK(broken["run_result"].is_null());
}

TEST_CASE("http service answers bad requests with clear 4xx and keeps serving", "[http]") {
  http_config config;
  config.max_body_bytes = 4096;
  running_service s(config);
  auto c = s.client();
  const std::string good = python("print(1)").dump();

  auto [bad_json, bad_json_body] = post(c, "{\"code\": \"print(1)\", ");
  CHECK(bad_json == 400);
  CHECK(bad_json_body["detail"].get<std::string>().find("not valid JSON") != std::string::npos);
  CHECK(post(c, good).second["status"] == "Success");

  auto [unknown, unknown_body] = post(c, json{{"language", "cobol"}, {"code", "x"}}.dump());
  CHECK(unknown == 422);
  CHECK(unknown_body["detail"].get<std::string>().find("unknown language 'cobol'") != std::string::npos);
  CHECK(post(c, json{{"language", "python"}}.dump()).first == 422);                      // no code
  CHECK(post(c, python("1", {{"run_timeout", "ten"}}).dump()).first == 422);             // not a number
  CHECK(post(c, python("1", {{"files", {{"../etc/x", "AAAA"}}}}).dump()).first == 422);  // escapes /tmp
  CHECK(post(c, python("1", {{"files", {{"a.txt", "not base64!"}}}}).dump()).first == 422);
  CHECK(post(c, "[1, 2]").first == 422);

  auto [big, big_body] = post(c, python(std::string(5000, '#')).dump());
  CHECK(big == 413);
  CHECK(big_body["detail"].get<std::string>().find("4096 bytes") != std::string::npos);

  auto get = c.Get("/run_code");
  REQUIRE(get);
  CHECK(get->status == 405);
  CHECK(get->get_header_value("Allow") == "POST");
  auto nowhere = c.Post("/run", good, "application/json");
  REQUIRE(nowhere);
  CHECK(nowhere->status == 404);
  CHECK(json::parse(nowhere->body, nullptr, false).contains("detail"));
  auto ping = c.Get("/v1/ping");
  REQUIRE(ping);
  CHECK(ping->status == 200);
  CHECK(ping->body == "\"pong\"");

  CHECK(post(c, good).second["status"] == "Success");

  // One kept-alive connection: each error leaves it usable (or closed and reopened) for the next.
  auto kept = s.client();
  kept.set_keep_alive(true);
  CHECK(post(kept, python(std::string(5000, '#')).dump()).first == 413);
  CHECK(post(kept, "{oops").first == 400);
  CHECK(post(kept, good).second["status"] == "Success");
  CHECK(post(kept, good).second["status"] == "Success");
}

TEST_CASE("http service with a token requires a bearer token, and without one serves loopback only", "[http]") {
  {
    http_config config;
    config.token = "s3cret-token";
    running_service s(config);
    auto c = s.client();
    const std::string good = python("print(1)").dump();
    CHECK(post(c, good).first == 401);
    CHECK(post(c, good, {{"Authorization", "Bearer s3cret-tokeX"}}).first == 401);
    CHECK(post(c, good, {{"Authorization", "Bearer s3cret"}}).first == 401);
    CHECK(post(c, good, {{"Authorization", "Basic s3cret-token"}}).first == 401);
    auto [ok, body] = post(c, good, {{"Authorization", "Bearer s3cret-token"}});
    CHECK(ok == 200);
    CHECK(body["status"] == "Success");
    CHECK(c.Get("/v1/ping")->status == 401);
    auto kept = s.client();
    kept.set_keep_alive(true);
    CHECK(post(kept, good).first == 401);
    CHECK(post(kept, good, {{"Authorization", "Bearer s3cret-token"}}).first == 200);
  }
  // (After the first service is gone: two pools in one process would share slot 0.)
  pool workers(testing::shared_executor(), 1, 1);
  http_config open;
  open.host = "0.0.0.0";
  open.port = 0;
  auto refused = http_service::bind(workers, open);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("without a token") != std::string::npos);
}

TEST_CASE("http service answers 503 beyond its in-flight bound and serves again after", "[http]") {
  http_config config;
  config.max_in_flight = 1;
  running_service s(config, 1);
  // The first run retries until admitted: a probe below may have taken the slot for a moment.
  auto first = std::async(std::launch::async, [&] {
    auto c = s.client();
    for (;;) {
      auto reply = post(c, python("import time; time.sleep(2); print('slept')").dump());
      if (reply.first != 503) return reply;
    }
  });
  // Probe while the first run holds the only slot (hang guard: the probes stop when it ends).
  auto c = s.client();
  int busy = 0;
  while (first.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    auto res = c.Post("/run_code", python("print(2)").dump(), "application/json");
    REQUIRE(res);
    if (res->status == 503) {
      ++busy;
      CHECK(res->get_header_value("Retry-After") == "1");
      CHECK(json::parse(res->body)["detail"].get<std::string>().find("busy") != std::string::npos);
    } else {
      CHECK(res->status == 200);  // only before the first run was admitted
    }
  }
  CHECK(busy > 0);
  auto [status, slept] = first.get();
  CHECK(status == 200);
  CHECK(slept["run_result"]["stdout"] == "slept\n");
  CHECK(post(c, python("print(3)").dump()).second["run_result"]["stdout"] == "3\n");
}

TEST_CASE("http service works with Python's urllib and with curl", "[http]") {
  running_service s;
  const std::string port = std::to_string(s.service->port());
  char script_path[] = "/tmp/aha_http_test_XXXXXX";
  const int fd = mkstemp(script_path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream script(script_path);
    script << R"(import json, sys, urllib.request, urllib.error
url = 'http://127.0.0.1:' + sys.argv[1] + '/run_code'
def post(data, headers={'Content-Type': 'application/json'}):
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
status, reply = post(json.dumps({'code': 'print(input() * 2)', 'language': 'python', 'stdin': 'ab\n',
                                 'run_timeout': 5, 'compile_timeout': 10, 'files': {}, 'fetch_files': []}).encode())
assert status == 200 and reply['status'] == 'Success', reply
assert reply['run_result']['stdout'] == 'abab\n', reply
status, reply = post(b'{not json')
assert status == 400 and 'detail' in reply, (status, reply)
status, reply = post(json.dumps({'code': 'exit(5)', 'language': 'python'}).encode())
assert status == 200 and reply['status'] == 'Failed' and reply['run_result']['return_code'] == 5, reply
# urllib's default Content-Type is form-encoded; the body is still read as JSON, past 8 KiB too.
status, reply = post(json.dumps({'code': '#' * 20000 + '\nprint(9)', 'language': 'python'}).encode(), headers={})
assert status == 200 and reply['run_result']['stdout'] == '9\n', (status, reply)
print('urllib ok')
)";
  }
  const std::string python_command = "/usr/bin/python3 " + std::string(script_path) + " " + port;
  CHECK(std::system(python_command.c_str()) == 0);
  std::remove(script_path);

  if (!program_exists("/usr/bin/curl")) AHA_SKIP("no /usr/bin/curl: the urllib half ran, the curl half cannot");
  const std::string curl =
      "/usr/bin/curl -s -X POST -H 'Content-Type: application/json' --data-binary "
      "'{\"code\": \"print(40 + 2)\", \"language\": \"python\"}' http://127.0.0.1:" +
      port + "/run_code";
  FILE* pipe = popen(curl.c_str(), "r");
  REQUIRE(pipe);
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  CHECK(pclose(pipe) == 0);
  const json reply = json::parse(out, nullptr, false);
  CHECK(reply["status"] == "Success");
  CHECK(reply["run_result"]["stdout"] == "42\n");
}

TEST_CASE("http service addresses and tokens", "[http]") {
  CHECK(parse_http_address("127.0.0.1:8080").value() == std::make_pair(std::string("127.0.0.1"), 8080));
  CHECK(parse_http_address("[::1]:0").value() == std::make_pair(std::string("::1"), 0));
  CHECK_FALSE(parse_http_address("127.0.0.1"));
  CHECK_FALSE(parse_http_address("127.0.0.1:99999"));
  CHECK_FALSE(parse_http_address("host:http"));
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.1.2.3"));
  CHECK(is_loopback_host("localhost"));
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
  CHECK_FALSE(is_loopback_host("example.org"));
  CHECK(tokens_equal("abc", "abc"));
  CHECK_FALSE(tokens_equal("abd", "abc"));
  CHECK_FALSE(tokens_equal("ab", "abc"));
  CHECK_FALSE(tokens_equal("abcabc", "abc"));
  CHECK_FALSE(tokens_equal("", ""));

  char path[] = "/tmp/aha_token_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  CHECK_FALSE(read_token_file(path));  // empty
  REQUIRE(write(fd, "  tok123\n", 9) == 9);
  close(fd);
  CHECK(read_token_file(path).value() == "tok123");
  std::remove(path);
  CHECK_FALSE(read_token_file("/nonexistent/token"));
}
