// llama.cpp's logits at every position of token sequences, by node-llama-cpp's prebuilt CPU build.
//   node logits.mjs MODEL.gguf OUT.safetensors NAME=ID,ID,... [NAME=...]
// writes one F32 tensor NAME [tokens, vocab] per sequence, each from one prefill in a fresh context.
import {getLlama, LlamaLogLevel, LlamaModel} from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, outPath, ...sequences] = process.argv.slice(2);
// node-llama-cpp round-trips a test text through the tokenizer at load, which llama.cpp aborts
// on for a vocabulary of bare ids (tokenizer.ggml.model "none", as the fixture models have).
LlamaModel.prototype.getWarnings = () => [];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const vocab = model.fileInfo.tensorInfo.find((t) => t.name === "token_embd.weight").dimensions[1];

const header = {};
const blobs = [];
let offset = 0;
for (const sequence of sequences) {
  const [name, list] = sequence.split("=");
  const tokens = list.split(",").map(Number);
  // F32 keys and values and no flash attention: llama.cpp's default F16 cache would round them.
  const context = await model.createContext({contextSize: Math.max(256, tokens.length), batchSize: tokens.length,
    flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
  const results = await context.getSequence().controlledEvaluate(tokens.map((t) => [t, {generateNext: {logits: true}}]));
  const logits = new Float32Array(tokens.length * vocab);
  results.forEach((r, i) => {
    for (const [token, value] of r.next.logits) logits[i * vocab + token] = value;
  });
  await context.dispose();
  header[name] = {dtype: "F32", shape: [tokens.length, vocab], data_offsets: [offset, offset + logits.byteLength]};
  blobs.push(Buffer.from(logits.buffer));
  offset += logits.byteLength;
}
const json = Buffer.from(JSON.stringify(header));
const size = Buffer.alloc(8);
size.writeBigUInt64LE(BigInt(json.length));
fs.writeFileSync(outPath, Buffer.concat([size, json, ...blobs]));
await model.dispose();
await llama.dispose();
