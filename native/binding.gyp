{
  "targets": [
    {
      "target_name": "spottune_native",
      "sources": ["src/addon.cc", "src/ops.cc", "src/allocator.cc", "<!(node find-libtorch.mjs dist)", "src/kernels/winograd.cc", "src/kernels/sgd.cc", "src/kernels/mix.cc"],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include_dir\")", "<!@(node find-libtorch.mjs include)"],
      "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=<!(node find-libtorch.mjs abi)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-fopenmp", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-L<!(node find-libtorch.mjs libdir)", "-Wl,-rpath,<!(node find-libtorch.mjs libdir)", "-Wl,--no-as-needed", "<!@(node find-libtorch.mjs libs)"]
    }
  ]
}
