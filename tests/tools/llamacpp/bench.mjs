// llama.cpp's prefill and decode speed on a GGUF, to set beside `dseek bench` on the same file:
//   node bench.mjs MODEL.gguf [PROMPT_TOKENS=512] [GEN_TOKENS=128] [REPETITIONS=2] [THREADS=physical cores]
// pp: one prefill of PROMPT_TOKENS tokens in one batch; tg: GEN_TOKENS greedy decode steps after it.
import {getLlama, LlamaLogLevel, LlamaModel} from "node-llama-cpp";

const [modelPath, promptTokens = 512, genTokens = 128, repetitions = 2, threads] = process.argv.slice(2).map(
  (a, i) => (i === 0 ? a : Number(a)));
LlamaModel.prototype.getWarnings = () => [];  // as in logits.mjs
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads});
const model = await llama.loadModel({modelPath});
console.log(llama.systemInfo.trim());
for (let r = 0; r < repetitions; ++r) {
  const context = await model.createContext({contextSize: promptTokens + genTokens + 8, batchSize: promptTokens,
    threads: llama.cpuMathCores, flashAttention: false});
  const sequence = context.getSequence();
  const prompt = Array.from({length: promptTokens}, (_, i) => 1000 + ((i * 37) % 90000));
  const start = performance.now();
  await sequence.controlledEvaluate(prompt);
  const prefilled = performance.now();
  let steps = 0, first = 0;
  for await (const _ of sequence.evaluate([prompt[0]], {temperature: 0})) {
    if (steps++ === 0) first = performance.now();  // the first token's step also writes the start token
    if (steps > genTokens) break;
  }
  const done = performance.now();
  console.log(`pp${promptTokens} ${(promptTokens / (prefilled - start) * 1000).toFixed(2)} t/s, ` +
              `tg${genTokens} ${(genTokens / (done - first) * 1000).toFixed(2)} t/s (threads ${llama.cpuMathCores})`);
  await context.dispose();
}
await model.dispose();
await llama.dispose();
