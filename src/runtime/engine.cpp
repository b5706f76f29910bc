#include "runtime/engine.h"

#include <algorithm>

#include "kernels/thread_pool.h"
#include "util/error.h"

namespace dseek {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
    case FinishReason::None: break;
  }
  return "none";
}

struct Engine::Sequence {
  uint64_t id = 0;
  GenerationRequest request;
  TokenCallback on_token;
  int64_t max_new = 0;
  int kv_sequence = -1;
  int64_t prefilled = 0;  // prompt tokens already in the cache
  std::vector<int32_t> generated;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamDecoder> decoder;
  std::unique_ptr<StopMatcher> stops;

  bool prefilling() const { return prefilled < static_cast<int64_t>(request.prompt.size()); }
};

Engine::Engine(const DeepSeekModel& model, const Tokenizer* tokenizer, EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_([&] {
        if (options.max_sequences < 1) fail("parallel sequences must be at least 1, got {}", options.max_sequences);
        if (options.context < 2) fail("context must be at least 2 tokens, got {}", options.context);
        options.context = std::min(options.context, model.config().max_position_embeddings);
        if (options.kv_tokens <= 0) options.kv_tokens = options.max_sequences * options.context;
        options.step_tokens = std::max<int64_t>(options.step_tokens, 1);
        return options;
      }()),
      cache_(model.make_cache(options_.kv_tokens)) {}

Engine::~Engine() { stop(); }

uint64_t Engine::submit(GenerationRequest request, TokenCallback on_token) {
  if (request.prompt.empty()) fail("the prompt is empty");
  for (int32_t token : request.prompt)
    if (token < 0 || token >= model_.config().vocab_size)
      fail("prompt token {} is outside the vocabulary [0, {})", token, model_.config().vocab_size);
  if (!request.stop.empty() && !tokenizer_) fail("stop strings need the model's tokenizer");
  if (request.max_tokens == 0) fail("max_tokens must be at least 1");
  for (const auto& [token, bias] : request.sampling.logit_bias)
    if (token < 0 || token >= model_.config().vocab_size)
      fail("logit_bias token {} is outside the vocabulary [0, {})", token, model_.config().vocab_size);
  auto s = std::make_unique<Sequence>();
  int64_t room = std::min(options_.context, cache_.capacity_tokens());
  int64_t wanted = request.max_tokens < 0 ? room : request.max_tokens;
  s->max_new = check_context(request.prompt.size(), wanted, room);
  s->sampler = std::make_unique<Sampler>(request.sampling);
  if (tokenizer_) s->decoder = std::make_unique<StreamDecoder>(*tokenizer_, request.skip_special_tokens);
  s->stops = std::make_unique<StopMatcher>(request.stop);
  s->request = std::move(request);
  s->on_token = std::move(on_token);
  std::lock_guard lock(mutex_);
  s->id = next_id_++;
  uint64_t id = s->id;
  waiting_.push_back(std::move(s));
  work_.notify_all();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard lock(mutex_);
  cancelled_.push_back(id);
  work_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mutex_);
  EngineStats s;
  s.running = static_cast<int>(running_.size());
  s.waiting = static_cast<int>(waiting_.size());
  s.kv_capacity_tokens = cache_.capacity_tokens();
  s.kv_used_tokens = cache_.capacity_tokens() - cache_.free_tokens();
  s.kv_bytes = cache_.bytes();
  return s;
}

void Engine::finish(Sequence& s, FinishReason reason, TokenEvent event) {
  bool ended_normally = reason != FinishReason::Cancelled && reason != FinishReason::Error;
  if (s.decoder && ended_normally && !s.stops->stopped()) {
    event.text += s.stops->feed(s.decoder->finish()).text;
    if (!s.stops->stopped()) event.text += s.stops->flush();
  }
  if (s.stops->stopped()) {
    reason = FinishReason::Stop;
    event.stop_string = std::string(s.stops->matched());
  }
  event.finish = reason;
  event.prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
  event.generated_tokens = static_cast<int64_t>(s.generated.size());
  if (s.kv_sequence >= 0) {
    cache_.remove_sequence(s.kv_sequence);
    s.kv_sequence = -1;
  }
  emit(s, std::move(event));
}

void Engine::emit(Sequence& s, TokenEvent event) { outbox_.emplace_back(s.on_token, std::move(event)); }

void Engine::deliver() {
  std::vector<std::pair<TokenCallback, TokenEvent>> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(outbox_);
  }
  for (auto& [callback, event] : events) callback(event);
}

// Moves waiting requests into free slots while the KV budget holds their whole context.
void Engine::admit() {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < options_.max_sequences) {
    Sequence& s = *waiting_.front();
    int64_t tokens = static_cast<int64_t>(s.request.prompt.size()) + s.max_new;
    int kv = cache_.add_sequence();
    if (!cache_.can_reserve(kv, tokens)) {
      cache_.remove_sequence(kv);
      break;
    }
    cache_.reserve(kv, tokens);
    s.kv_sequence = kv;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
}

void Engine::on_sample(Sequence& s, Sample sample, const std::string& error) {
  if (!error.empty()) {
    // Only this request fails (e.g. every token banned); the others go on.
    TokenEvent failed;
    failed.error = error;
    finish(s, FinishReason::Error, std::move(failed));
    return;
  }
  const auto& stop_tokens = s.request.stop_tokens;
  if (std::find(stop_tokens.begin(), stop_tokens.end(), sample.token) != stop_tokens.end()) {
    finish(s, FinishReason::Stop, {});  // eos is not part of the output
    return;
  }
  TokenEvent event;
  event.has_token = true;
  event.token = sample.token;
  event.logprob = sample.logprob;
  event.top_logprobs = std::move(sample.top);
  s.generated.push_back(sample.token);
  if (s.decoder) {
    StopMatcher::Output out = s.stops->feed(s.decoder->push(static_cast<uint32_t>(sample.token)));
    event.text = std::move(out.text);
    if (out.stopped) {
      finish(s, FinishReason::Stop, std::move(event));
      return;
    }
  }
  if (static_cast<int64_t>(s.generated.size()) >= s.max_new) {
    finish(s, FinishReason::Length, std::move(event));
    return;
  }
  event.generated_tokens = static_cast<int64_t>(s.generated.size());
  event.prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
  emit(s, std::move(event));
}

bool Engine::step() {
  bool worked = run_batch();
  deliver();
  return worked;
}

bool Engine::run_batch() {
  Batch batch;
  std::vector<Sequence*> rows;  // the sequence of each logits row, in batch order
  {
    std::lock_guard lock(mutex_);
    for (uint64_t id : cancelled_) {
      auto in_running = std::find_if(running_.begin(), running_.end(), [&](auto& s) { return s->id == id; });
      if (in_running != running_.end()) {
        finish(**in_running, FinishReason::Cancelled, {});
        running_.erase(in_running);
        continue;
      }
      auto in_waiting = std::find_if(waiting_.begin(), waiting_.end(), [&](auto& s) { return s->id == id; });
      if (in_waiting != waiting_.end()) {
        finish(**in_waiting, FinishReason::Cancelled, {});
        waiting_.erase(in_waiting);
      }
    }
    cancelled_.clear();
    admit();
    if (running_.empty()) return false;
    // Decode tokens first: one per running sequence; then prompt chunks fill the step.
    int64_t budget = options_.step_tokens;
    for (auto& s : running_) {
      if (s->prefilling()) continue;
      int64_t position = static_cast<int64_t>(s->request.prompt.size() + s->generated.size()) - 1;
      batch.add(s->generated.back(), position, s->kv_sequence, true);
      rows.push_back(s.get());
    }
    for (auto& s : running_) {
      if (!s->prefilling() || budget <= 0) continue;
      int64_t total = static_cast<int64_t>(s->request.prompt.size());
      int64_t take = std::min(budget, total - s->prefilled);
      for (int64_t i = 0; i < take; ++i) {
        int64_t position = s->prefilled + i;
        bool last = position == total - 1;
        batch.add(s->request.prompt[position], position, s->kv_sequence, last);
        if (last) rows.push_back(s.get());
      }
      s->prefilled += take;
      budget -= take;
    }
  }
  std::vector<float> logits = model_.forward(batch, cache_);
  // Each sequence has its own sampler, so they sample in parallel: a full-vocabulary pass
  // per sequence is a real share of a large batch's step.
  const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
  std::vector<Sample> samples(rows.size());
  std::vector<std::string> errors(rows.size());
  ThreadPool::global().parallel_for(static_cast<int64_t>(rows.size()), [&](int, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      Sequence& s = *rows[r];
      try {
        samples[r] = s.sampler->sample({logits.data() + r * vocab, vocab}, s.request.prompt, s.generated);
      } catch (const Error& e) {
        errors[r] = e.what();
      }
    }
  });
  std::lock_guard lock(mutex_);
  std::vector<Sequence*> done;
  for (size_t r = 0; r < rows.size(); ++r) {
    Sequence& s = *rows[r];
    on_sample(s, std::move(samples[r]), errors[r]);
    if (s.kv_sequence < 0) done.push_back(&s);
  }
  std::erase_if(running_, [&](auto& s) { return std::find(done.begin(), done.end(), s.get()) != done.end(); });
  return true;
}

void Engine::run_until_idle() {
  while (step()) {
  }
}

void Engine::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (!stopping_) {
      if (step()) continue;
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || !waiting_.empty() || !cancelled_.empty(); });
    }
  });
}

void Engine::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& s : running_) cancelled_.push_back(s->id);
    for (auto& s : waiting_) cancelled_.push_back(s->id);
    work_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(mutex_);
  for (auto& s : running_) finish(*s, FinishReason::Cancelled, {});
  for (auto& s : waiting_) finish(*s, FinishReason::Cancelled, {});
  running_.clear();
  waiting_.clear();
  cancelled_.clear();
  lock.unlock();
  deliver();
}

}  // namespace dseek
