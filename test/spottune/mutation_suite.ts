// What `npm run mutate` (stryker.config.json) runs for every mutant of src/spottune/, in one
// process (each test file alone would load libtorch again, ~2 s a file here): the Gumbel,
// gradient-check and two-branch tests, and the ResNet-26 oracle cases without Winograd (the
// deeper and Winograd cases test the same SpotTune code, ten times slower).
import { test } from 'node:test';
import { check } from './oracle.js';
import './gumbel.test.js';
import './gradcheck.test.js';
import './two_branch.test.js';

for (const name of ['resnet26', 'resnet26_globalk', 'resnet26_tau05']) test(`oracle: SpotTune ${name}, Winograd off`, () => check(name, false));
