#include "cli_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace dseek::cli_test {
namespace {

std::vector<char*> argv_of(const std::vector<std::string>& args, std::string& binary) {
  std::vector<char*> argv;
  argv.push_back(binary.data());
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

ProcessResult run_dseek(const std::vector<std::string>& args, const std::string& input) {
  // A child that exits before reading all its input must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  std::string binary = DSEEK_BINARY;
  std::vector<char*> argv = argv_of(args, binary);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  ProcessResult result;
  size_t written = 0;
  int input_fd = in[1];
  if (input.empty()) {
    ::close(input_fd);
    input_fd = -1;
  }
  int open_outputs = 2;
  std::string* sinks[2] = {&result.out, &result.err};
  int fds[2] = {out[0], err[0]};
  while (open_outputs > 0) {
    pollfd polls[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {input_fd, POLLOUT, 0}};
    if (::poll(polls, 3, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || polls[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i], buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i]);
        fds[i] = -1;
        --open_outputs;
      }
    }
    if (input_fd >= 0 && polls[2].revents != 0) {
      ssize_t n = ::write(input_fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) {
        ::close(input_fd);
        input_fd = -1;
      }
    }
  }
  if (input_fd >= 0) ::close(input_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.status = exit_status(status);
  return result;
}

TempFile::TempFile(std::string_view name, std::string_view contents)
    : path_(std::filesystem::temp_directory_path() /
            ("dseek_cli_" + std::to_string(::getpid()) + "_" + std::string(name))) {
  std::ofstream(path_, std::ios::binary) << contents;
}

TempFile::~TempFile() {
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
}

TerminalSession::TerminalSession(const std::vector<std::string>& args) {
  std::string binary = DSEEK_BINARY;
  std::vector<char*> argv = argv_of(args, binary);
  // A terminal session as a user has it: colors allowed.
  std::vector<char*> env;
  for (char** var = environ; *var != nullptr; ++var)
    if (std::string_view(*var).rfind("NO_COLOR=", 0) != 0) env.push_back(*var);
  env.push_back(nullptr);
  pid_ = ::forkpty(&master_, nullptr, nullptr, nullptr);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) {
    ::execve(argv[0], argv.data(), env.data());
    ::_exit(127);
  }
}

TerminalSession::~TerminalSession() {
  if (!exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ::close(master_);
}

void TerminalSession::type(std::string_view keys) {
  while (!keys.empty()) {
    ssize_t n = ::write(master_, keys.data(), keys.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot write to the terminal");
    }
    keys.remove_prefix(static_cast<size_t>(n));
  }
}

bool TerminalSession::read_some(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd poll_fd{master_, POLLIN, 0};
  int ready = ::poll(&poll_fd, 1, static_cast<int>(left.count()));
  if (ready < 0) return errno == EINTR;
  if (ready == 0) return false;
  char buffer[4096];
  ssize_t n = ::read(master_, buffer, sizeof(buffer));
  if (n <= 0) return n < 0 && errno == EINTR;  // EIO: the process closed the terminal
  raw_.append(buffer, static_cast<size_t>(n));
  return true;
}

std::string TerminalSession::output() const {
  std::string text;
  for (char c : raw_)
    if (c != '\r') text += c;
  return text;
}

size_t TerminalSession::wait_for(std::string_view text, size_t from, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::string shown = output();
    size_t at = from <= shown.size() ? shown.find(text, from) : std::string::npos;
    if (at != std::string::npos) return at;
    if (!read_some(deadline)) return std::string::npos;
  }
}

bool TerminalSession::wait_for_size(size_t size, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output().size() <= size)
    if (!read_some(deadline)) return false;
  return true;
}

int TerminalSession::wait_exit(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      return exit_status(status);
    }
    // Keep draining, so a process writing its last words does not block on a full terminal.
    if (!read_some(std::chrono::steady_clock::now() + std::chrono::milliseconds(50)))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

}  // namespace dseek::cli_test
