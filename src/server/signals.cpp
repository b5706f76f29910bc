#include "server/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "util/error.h"

namespace dseek::server {
namespace {

int g_pipe[2] = {-1, -1};

void on_signal(int signal) {
  int saved = errno;
  char byte = static_cast<char>(signal);
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

void set_action(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(signal, &action, nullptr);
}

}  // namespace

TerminationSignals::TerminationSignals() {
  if (g_pipe[0] >= 0) fail("termination signals are already being watched");
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) fail("cannot create a pipe for signals: errno {}", errno);
  set_action(SIGTERM, on_signal);
  set_action(SIGINT, on_signal);
  set_action(SIGPIPE, SIG_IGN);
}

TerminationSignals::~TerminationSignals() {
  set_action(SIGTERM, SIG_DFL);
  set_action(SIGINT, SIG_DFL);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

bool TerminationSignals::wait() {
  char byte = 0;
  while (true) {
    ssize_t n = ::read(g_pipe[0], &byte, 1);
    if (n == 1) return byte != 0;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

void TerminationSignals::interrupt() {
  char byte = 0;
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &byte, 1);
}

}  // namespace dseek::server
