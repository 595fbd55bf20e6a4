// Stands in for dist.cc when libtorch comes without gloo headers (PyTorch's wheels and most
// libtorch archives): the addon builds, and data-parallel training says what it needs.
#include "common.h"

namespace st {
namespace {

Napi::Value unavailable(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "data-parallel training needs c10d's Gloo, but spottune's addon was built against a libtorch without gloo headers. "
                         "Rebuild it against Debian's libtorch (apt-get install libtorch-dev libgloo-dev; npm run build:native) to train on several processes");
}

}  // namespace

void initDist(Napi::Env env, Napi::Object exports) {
  for (const char* name : {"distInit", "allReduce", "broadcast", "barrier", "distDestroy"}) exports.Set(name, Napi::Function::New(env, unavailable, name));
}

}  // namespace st
