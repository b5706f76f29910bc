// `dseek serve` end to end: the real binary on loopback, driven by the official `openai` npm
// client (tests/server/*.test.mjs), by curl for the raw SSE framing, and by SIGTERM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../util/shell.h"
#include "server_test_util.h"

namespace dseek::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using test_util::CommandResult;
using test_util::run_shell;
using test_util::shell_quote;

const fs::path kTestDir = fs::path(__FILE__).parent_path();

// `dseek serve ARGS --port 0` as a child process; the port is read from its first line.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> args) {
    log_ = fs::temp_directory_path() / ("dseek_serve_" + std::to_string(::getpid()) + "_" + std::to_string(next_++) + ".log");
    args.insert(args.begin(), {DSEEK_BINARY, "serve"});
    args.insert(args.end(), {"--host", "127.0.0.1", "--port", "0"});
    std::vector<char*> argv;  // made before fork: the child only calls async-signal-safe functions
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The servers' settings come from their arguments only.
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).rfind("DSEEK_API_KEY=", 0) != 0) envp.push_back(*e);
    envp.push_back(nullptr);
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(log_fd, 2);
      ::close(out[0]);
      ::close(out[1]);
      ::close(log_fd);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(out[1]);
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char c[256];
      ssize_t n = ::read(out[0], c, sizeof(c));
      if (n <= 0) break;
      line.append(c, static_cast<size_t>(n));
    }
    ::close(out[0]);
    const std::string prefix = "listening on http://127.0.0.1:";
    size_t at = line.find(prefix);
    if (at == std::string::npos) throw std::runtime_error("the server did not start: " + line + "\n" + log());
    port_ = std::stoi(line.substr(at + prefix.size()));
  }

  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    fs::remove(log_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void signal(int sig) const { ::kill(pid_, sig); }

  // The exit status, or -1 if it does not exit in time.
  int wait(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

  std::string log() const {
    try {
      return testing::read_file(log_);
    } catch (const std::exception&) {
      return "";
    }
  }

 private:
  static inline int next_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path log_;
};

TEST(ServerE2e, OpenAiNodeClient) {
  test_util::install_npm_packages(kTestDir, "node_modules/openai/package.json", "npm ci");
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string max_body = "65536";
  // Exact arithmetic, not serve's BF16 defaults: the clients compare greedy text with the float32
  // reference's, which rounding may leave after a few tokens of these random models.
  ServerProcess main({testing::chat_model_dir(), "--parallel", "4", "--ctx", "2048", "--kv-tokens", "2048",
                      "--api-key", "test-key", "--max-body-bytes", max_body, "--activations", "f32", "--cache-type", "f32"});
  ServerProcess v32({testing::chat_model_dir(), "--parallel", "2", "--ctx", "2048", "--chat-template",
                     std::string(DSEEK_FIXTURES) + "/chat-templates/deepseek-ai-DeepSeek-V3.2.jinja", "--activations", "f32",
                     "--cache-type", "f32"});
  std::string env = "DSEEK_BASE_URL=" + shell_quote(main.url() + "/v1") + " DSEEK_TEST_API_KEY=test-key DSEEK_MODEL=v2-chat-tiny" +
                    " DSEEK_MAX_BODY_BYTES=" + max_body + " DSEEK_V32_BASE_URL=" + shell_quote(v32.url() + "/v1") +
                    " DSEEK_FIXTURES=" + shell_quote(DSEEK_FIXTURES);
  // One file at a time: they share the servers and read their metrics.
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kTestDir))
    if (entry.path().string().ends_with(".test.mjs")) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u);
  for (const fs::path& file : files) {
    CommandResult node = run_shell(env + " node --test " + shell_quote(file.string()));
    std::string log = main.log();
    EXPECT_EQ(node.status, 0) << node.output << "\n--- main server log (tail) ---\n"
                              << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
    EXPECT_NE(node.output.find("# fail 0"), std::string::npos) << node.output;
  }
}

struct HttpResponse {
  std::string head;  // status line and headers
  std::string body;
};

HttpResponse curl(const std::string& url, const std::string& body) {
  CommandResult r = run_shell("curl -sS -N --max-time 60 -D - -H 'Content-Type: application/json' -d " + shell_quote(body) +
                              " " + shell_quote(url));
  EXPECT_EQ(r.status, 0) << r.output;
  size_t split = r.output.find("\r\n\r\n");
  if (split == std::string::npos) return {r.output, ""};
  return {r.output.substr(0, split), r.output.substr(split + 4)};
}

// The events of an SSE body; fails on anything but "data: ...\n\n" blocks.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> data;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event: " << body.substr(at);
    if (end == std::string::npos) break;
    std::string event = body.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    EXPECT_EQ(event.find('\n'), std::string::npos) << event;
    data.push_back(event.substr(6));
    at = end + 2;
  }
  return data;
}

TEST(ServerE2e, CurlSeesRawSseFraming) {
  ServerProcess server({testing::chat_model_dir(), "--parallel", "2", "--ctx", "512"});
  for (const char* endpoint : {"/v1/chat/completions", "/v1/completions"}) {
    std::string request = std::string(endpoint) == "/v1/completions"
                              ? R"({"prompt": "The quick brown fox", "max_tokens": 8, "stream": true, "stream_options": {"include_usage": true}})"
                              : R"({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": true, "stream_options": {"include_usage": true}})";
    HttpResponse r = curl(server.url() + endpoint, request);
    EXPECT_EQ(r.head.rfind("HTTP/1.1 200", 0), 0u) << r.head;
    EXPECT_NE(r.head.find("Content-Type: text/event-stream"), std::string::npos) << r.head;
    EXPECT_NE(r.head.find("Transfer-Encoding: chunked"), std::string::npos) << r.head;
    EXPECT_TRUE(r.body.ends_with("data: [DONE]\n\n")) << r.body;
    std::vector<std::string> data = sse_data(r.body);
    ASSERT_GE(data.size(), 3u);
    EXPECT_EQ(data.back(), "[DONE]");
    std::string id;
    int finishes = 0;
    for (size_t i = 0; i + 1 < data.size(); ++i) {
      json chunk = json::parse(data[i]);
      if (id.empty()) id = chunk["id"].get<std::string>();
      EXPECT_EQ(chunk["id"], id);
      for (const json& choice : chunk["choices"]) finishes += choice["finish_reason"].is_string() ? 1 : 0;
    }
    EXPECT_EQ(finishes, 1);
    json usage = json::parse(data[data.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], 8);
  }

  HttpResponse plain = curl(server.url() + "/v1/completions", R"({"prompt": "The quick brown fox", "max_tokens": 4})");
  EXPECT_NE(plain.head.find("Content-Type: application/json"), std::string::npos) << plain.head;
  EXPECT_EQ(json::parse(plain.body)["usage"]["completion_tokens"], 4);

  HttpResponse bad = curl(server.url() + "/v1/completions", R"({"prompt": "x", "temperature": -1})");
  EXPECT_EQ(bad.head.rfind("HTTP/1.1 400", 0), 0u) << bad.head;
  EXPECT_EQ(json::parse(bad.body)["error"]["param"], "temperature");
}

// Streams a long completion with curl in the background; returns its pipe once data flows.
FILE* start_stream(const ServerProcess& server, int max_tokens) {
  std::string body = R"({"prompt": "x", "stream": true, "ignore_eos": true, "max_tokens": )" + std::to_string(max_tokens) + "}";
  FILE* pipe = ::popen(("curl -sS -N --max-time 120 -H 'Content-Type: application/json' -d " + shell_quote(body) + " " +
                        shell_quote(server.url() + "/v1/completions") + " 2>&1").c_str(), "r");
  return pipe;
}

std::string read_all(FILE* pipe, std::string first) {
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) first.append(buffer, n);
  ::pclose(pipe);
  return first;
}

std::string read_until_data(FILE* pipe) {
  std::string seen;
  char line[4096];
  while (seen.find("data: {") == std::string::npos && std::fgets(line, sizeof(line), pipe)) seen += line;
  return seen;
}

std::string last_finish_reason(const std::string& body) {
  std::string reason;
  for (const std::string& data : sse_data(body)) {
    if (data == "[DONE]") continue;
    json chunk = json::parse(data);
    for (const json& choice : chunk["choices"])
      if (choice["finish_reason"].is_string()) reason = choice["finish_reason"].get<std::string>();
  }
  return reason;
}

TEST(ServerE2e, SigtermFinishesInFlightRequestsAndRefusesNewOnes) {
  ServerProcess server({testing::chat_model_dir(), "--parallel", "2", "--ctx", "1024", "--shutdown-grace", "60"});
  FILE* stream = start_stream(server, 300);
  ASSERT_NE(stream, nullptr);
  std::string body = read_until_data(stream);
  server.signal(SIGTERM);
  std::this_thread::sleep_for(100ms);
  CommandResult late = run_shell("curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -d '{\"prompt\": \"x\"}' " +
                                 shell_quote(server.url() + "/v1/completions"));
  // Refused while draining (503) or, if the stream already ended, no longer listening.
  EXPECT_TRUE(late.output == "503" || late.status == 7) << late.output;
  body = read_all(stream, body);
  EXPECT_TRUE(body.ends_with("data: [DONE]\n\n")) << body.substr(body.size() > 500 ? body.size() - 500 : 0);
  EXPECT_EQ(last_finish_reason(body), "length");
  EXPECT_EQ(server.wait(60s), 0) << server.log();
}

TEST(ServerE2e, SigtermCancelsWhatOutlastsTheGracePeriod) {
  ServerProcess server({testing::chat_model_dir(), "--parallel", "2", "--ctx", "4096", "--shutdown-grace", "0"});
  FILE* stream = start_stream(server, 4000);
  ASSERT_NE(stream, nullptr);
  std::string body = read_until_data(stream);
  server.signal(SIGTERM);
  body = read_all(stream, body);
  EXPECT_TRUE(body.ends_with("data: [DONE]\n\n")) << body.substr(body.size() > 500 ? body.size() - 500 : 0);
  EXPECT_EQ(last_finish_reason(body), "abort");
  EXPECT_EQ(server.wait(30s), 0) << server.log();
  EXPECT_NE(run_shell("curl -sS --max-time 5 " + shell_quote(server.url() + "/health")).status, 0);
}

}  // namespace
}  // namespace dseek::server
