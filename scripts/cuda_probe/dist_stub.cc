// CUDA probe only: stands in for native/src/dist.cc where libtorch comes without gloo headers.
#include "../../native/src/common.h"
namespace st {
void initDist(Napi::Env, Napi::Object) {}
}  // namespace st
