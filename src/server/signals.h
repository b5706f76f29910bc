// SIGTERM and SIGINT as an event a thread can wait for: the handler only writes to a pipe
// (async-signal-safe); the waiting thread does the real work. SIGPIPE is ignored, so a client
// that goes away is a failed write, not the end of the process.
#pragma once

namespace dseek::server {

class TerminationSignals {
 public:
  TerminationSignals();  // installs the handlers; one instance at a time
  ~TerminationSignals();  // restores the default actions
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Blocks until a signal arrives (true) or interrupt() is called (false).
  bool wait();
  void interrupt();
};

}  // namespace dseek::server
