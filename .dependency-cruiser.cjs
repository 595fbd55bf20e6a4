// The layer rules (README, "Layers"): each folder of src/ imports only from itself and from
// the folders of lower layers. Checked in CI by `npm run lint:layers` (part of `make test`).
// optim sits above nn (the weight EMA averages a Module); src/index.ts, the package's entry
// point, is above everything.
const LAYERS = [
  ['util'],
  ['torch'],
  ['nn', 'io'],
  ['optim'],
  ['models', 'data'],
  ['spottune'],
  ['train'],
  ['experiments', 'export'],
  ['cli'],
];

const forbidden = LAYERS.flatMap((folders, level) => {
  const allowed = LAYERS.slice(0, level).flat();
  return folders.map((folder) => ({
    name: `layer-${folder}`,
    comment: `src/${folder} may import only from itself and from ${allowed.length ? allowed.map((f) => `src/${f}`).join(', ') : 'no other folder of src'}`,
    severity: 'error',
    from: { path: `^src/${folder}/` },
    to: { path: '^src/', pathNot: [`^src/${folder}/`, ...allowed.map((f) => `^src/${f}/`)] },
  }));
});

forbidden.push(
  {
    name: 'src-not-from-tests-or-scripts',
    comment: 'the library never imports tests, scripts or benchmarks',
    severity: 'error',
    from: { path: '^src/' },
    to: { path: '^(test|scripts|bench)/' },
  },
  {
    name: 'tests-not-from-scripts',
    comment: 'tests import the library and test helpers, never scripts/ (scripts may import test helpers)',
    severity: 'error',
    from: { path: '^test/' },
    to: { path: '^scripts/' },
  },
  {
    name: 'no-cycles-across-folders',
    comment: 'a cycle between two folders would make the layer order meaningless',
    severity: 'error',
    from: { path: '^src/([^/]+)/' },
    to: { circular: true, path: '^src/', pathNot: '^src/$1/' },
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^(node_modules|dist|native)/' },
  },
};
