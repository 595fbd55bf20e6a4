// SpotTune number for number against the oracle (scripts/fixtures_spottune.py: the authors' code
// in PyTorch 1.13, the same uniform draws behind the Gumbel noise): decisions, logits and loss of
// three training steps; the gradient of every parameter at the first (stem, frozen-branch batch
// norm, fine-tuned blocks, head, agent); every parameter's displacement and the batch-norm
// statistics after three steps of both SGD optimizers; evaluation with argmax and sampled
// decisions. Rebuffi's ResNet-26 (τ = 5; τ = 2.5 with Global-k; τ = 0.5), torchvision ResNet-18
// and ResNet-50 (its first step only: float32 cannot follow its trajectory); Winograd convolutions
// on and off. The oracle is float64; each comparison allows its floor (1e-5 for the forward pass)
// or four times PyTorch's own float32 spread on that tensor, whichever is larger (see oracle.ts).
import { test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { Agent, createBackbone } from '../../src/models/index.js';
import { assertValues, check, fillByName, fixture, image, values } from './oracle.js';

for (const name of ['resnet26', 'resnet26_globalk', 'resnet26_tau05', 'resnet18', 'resnet50']) {
  for (const winograd of [true, false]) {
    test(`oracle: SpotTune ${name}, Winograd ${winograd ? 'on' : 'off'}`, () => check(name, winograd));
  }
}

test('oracle: the authors\' ResNet-26 (models.py) and agent give our logits for the same weights, train and eval mode', () => {
  const f = fixture('rebuffi_arch.json');
  torch.tidy(() => {
    const net = createBackbone('resnet26', { numClasses: f.classes, width: f.width });
    fillByName(net, 'arch:');
    const agent = new Agent({ numBlocks: 12, width: f.width });
    fillByName(agent, 'arch-agent:');
    const x = image('arch:input', f.input);
    for (const mode of ['train', 'eval'] as const) {
      net.train(mode === 'train');
      agent.train(mode === 'train');
      torch.noGrad(() => {
        assertValues(values(net.forward(x)), f[mode].logits, `ResNet-26 logits, ${mode} mode`);
        assertValues(values(agent.forward(x)), f[mode].agentLogits, `agent logits, ${mode} mode`);
      });
    }
  });
});

