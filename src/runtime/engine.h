// The one generation engine behind `dseek run`, `dseek chat` and `dseek serve`: a scheduler
// that, each step, runs one batched forward pass over every active sequence (the decode
// token of running sequences plus chunks of pending prompts), so weights are read once per
// step for all of them. Requests join and leave between steps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/deepseek.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"
#include "runtime/stop.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace dseek {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = -1;          // -1: until the sequence's context is full
  std::vector<std::string> stop;    // stop strings: not shown, end generation
  std::vector<int32_t> stop_tokens; // eos ids: end generation, not shown
  bool skip_special_tokens = true;  // in the streamed text
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled", "error"

// One generated token, delivered on the engine's thread, in order. The last event of a
// request has finish != None (it carries no token when cancelled or ended by a stop token).
struct TokenEvent {
  bool has_token = false;
  int32_t token = -1;
  float logprob = 0;
  std::vector<TokenLogprob> top_logprobs;
  std::string text;  // newly completed text (whole UTF-8 characters, stop strings held back)
  FinishReason finish = FinishReason::None;
  std::string stop_string;  // the stop string that ended it, if one did
  std::string error;        // why it failed, with FinishReason::Error
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
};
using TokenCallback = std::function<void(const TokenEvent&)>;

struct EngineOptions {
  int max_sequences = 4;    // running at once; more requests wait
  int64_t context = 4096;   // positions per sequence (capped by the model's)
  int64_t kv_tokens = 0;    // KV cache budget over all sequences; 0: max_sequences * context
  int64_t step_tokens = 512;  // most prompt tokens one step prefills (chunked prefill)
};

struct EngineStats {
  int running = 0;
  int waiting = 0;
  int64_t kv_used_tokens = 0;
  int64_t kv_capacity_tokens = 0;
  int64_t kv_bytes = 0;
};

class Engine {
 public:
  // The tokenizer may be null when requests have no stop strings and need no text.
  Engine(const DeepSeekModel& model, const Tokenizer* tokenizer, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return options_; }

  // Queues a request; Error when it can never run (a prompt longer than the context, a
  // bad sampling field, max_tokens 0). Returns its id. The callback runs on the engine thread.
  uint64_t submit(GenerationRequest request, TokenCallback on_token);
  // Ends a request early (its last event says Cancelled); unknown or finished ids are ignored.
  void cancel(uint64_t id);

  // Either drive it from a background thread...
  void start();
  void stop();  // cancels what is left, then joins
  // ...or on the caller's thread until nothing is queued or running.
  void run_until_idle();

  EngineStats stats() const;

 private:
  struct Sequence;
  bool step();       // one forward pass, then its callbacks; false when there was nothing to do
  bool run_batch();  // schedules and runs the forward pass, queueing events
  void admit();
  void finish(Sequence& s, FinishReason reason, TokenEvent event);
  void on_sample(Sequence& s, Sample sample, const std::string& error);  // error: sampling failed
  void emit(Sequence& s, TokenEvent event);
  void deliver();  // runs queued callbacks, outside the lock

  const DeepSeekModel& model_;
  const Tokenizer* tokenizer_;
  EngineOptions options_;
  KvCache cache_;

  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<uint64_t> cancelled_;
  std::vector<std::pair<TokenCallback, TokenEvent>> outbox_;
  uint64_t next_id_ = 1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace dseek
