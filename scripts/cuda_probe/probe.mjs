// CUDA probe (see build_and_run.sh): the library's tensor API on a CUDA device, against the CPU.
import * as torch from '../../dist/torch/index.js';
console.log('libtorch', torch.libtorchVersion(), 'cuda available', torch.cudaIsAvailable(), 'devices', torch.cudaDeviceCount());
torch.manualSeed(0);
const x = torch.randn([8, 64, 32, 32]), w = torch.randn([64, 64, 3, 3]).mul(0.05);
const cpu = torch.conv2d(x, w, undefined, 1, 1);
const xcuda = x.to('cuda');
const wcuda = w.to('cuda');
const y = torch.conv2d(xcuda.requiresGrad_(true), wcuda, undefined, 1, 1);
console.log('conv2d on', y.device, 'max |cpu - cuda|', y.to('cpu').sub(cpu).abs().max().item());
y.sum().backward();
console.log('backward ok, grad on', xcuda.grad.device, 'grad sum', xcuda.grad.sum().item());
const a = torch.randn([1024, 1024], { device: 'cuda' }), b = torch.randn([1024, 1024], { device: 'cuda' });
const mms = () => torch.tidy(() => { for (let i = 0; i < 10; i++) torch.mm(a, b); return torch.mm(a, b).sum().item(); });
mms(); // cuBLAS start-up
const t = performance.now();
mms();
console.log('11 float32 matrix products 1024³ on cuda, ms', (performance.now() - t).toFixed(2));
