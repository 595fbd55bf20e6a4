// One rank of a data-parallel run through the library API (run by train.test.ts as a real
// process): node --import tsx train_worker.ts <rank> <worldSize> <port> <output> <weights> <dump>.
// Each rank writes the image indices of its first epoch's batches to <dump>-rank<r>.json and,
// after training, its own model state to <dump>-rank<r>.safetensors, so the test can check
// the sharding and that the ranks never drifted apart.
import { writeFileSync } from 'node:fs';
import { writeWeights } from '../../src/io/tensors.js';
import { openTask } from '../../src/train/task.js';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { Distributed } from '../../src/train/distributed.js';

const [rank, worldSize, port] = process.argv.slice(2, 5).map(Number);
const [output, weights, dump] = process.argv.slice(5, 8);
const config = makeConfig({ method: 'finetune', arch: 'resnet26', width: 0.25, data: 'digits', perClass: 10, weights, epochs: 2, batchSize: 16, lr: 0.05, seed: 4 });
const distributed = Distributed.init({ rank, worldSize, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 60_000 });
const task = openTask({ data: config.data, perClass: config.perClass, seed: config.seed });
const loader = distributed.trainLoader(task.train, task.trainTransform, { batchSize: config.batchSize, shuffle: true, seed: config.seed, dropLast: true });
const batches: number[][] = [];
for await (const b of loader.epoch(0)) batches.push([...b.index]);
writeFileSync(`${dump}-rank${rank}.json`, JSON.stringify(batches));
await train(config, output, {
  distributed,
  callbacks: { onTrainEnd: ({ model }) => writeWeights(`${dump}-rank${rank}.safetensors`, model.module.stateDict()) },
});
distributed.destroy();
