// The generic operator path: any ATen operator, called through the c10 dispatcher
// by schema name. lookupOp resolves an operator once and records how to convert each
// JS argument (from the operator's FunctionSchema); callOp converts, calls, converts back.
// The dispatcher does not check the stack, so exactly arguments().size() values are pushed.
#include <ATen/core/dispatch/Dispatcher.h>

#include "common.h"

namespace st {
namespace {

enum class Kind : uint8_t {
  Tensor, TensorList, OptTensorList, Int, IntList, Float, FloatList, Bool, BoolList,
  Scalar, String, ScalarType, Layout, Device, MemoryFormat, Generator,
};

struct Arg {
  std::string name;
  Kind kind;
  bool optional;
  int fixedN;  // int[2]: a single number is repeated N times
  c10::optional<c10::IValue> def;
};

struct Op {
  std::string name;
  c10::OperatorHandle handle;
  std::vector<Arg> args;
  std::vector<bool> returnsInPlace;  // Tensor(a!) returns: JS gets undefined, the caller keeps its object
};

std::vector<Op>& ops() {
  static auto* v = new std::vector<Op>();
  return *v;
}

Kind kindOf(const c10::TypePtr& t, const std::string& op, const std::string& arg) {
  using K = c10::TypeKind;
  switch (t->kind()) {
    case K::TensorType: return Kind::Tensor;
    case K::IntType:
    case K::SymIntType: return Kind::Int;
    case K::FloatType: return Kind::Float;
    case K::BoolType: return Kind::Bool;
    case K::NumberType: return Kind::Scalar;
    case K::StringType: return Kind::String;
    case K::ScalarTypeType: return Kind::ScalarType;
    case K::LayoutType: return Kind::Layout;
    case K::DeviceObjType: return Kind::Device;
    case K::MemoryFormatType: return Kind::MemoryFormat;
    case K::GeneratorType: return Kind::Generator;
    case K::ListType: {
      const auto& e = t->expectRef<c10::ListType>().getElementType();
      switch (e->kind()) {
        case K::TensorType: return Kind::TensorList;
        case K::IntType:
        case K::SymIntType: return Kind::IntList;
        case K::FloatType: return Kind::FloatList;
        case K::BoolType: return Kind::BoolList;
        case K::OptionalType:
          if (e->expectRef<c10::OptionalType>().getElementType()->kind() == K::TensorType) return Kind::OptTensorList;
          break;
        default: break;
      }
      break;
    }
    default: break;
  }
  throw std::runtime_error(op + ": argument '" + arg + "' has type " + t->str() + ", which spottune cannot pass");
}

[[noreturn]] void bad(Napi::Env env, const Op& op, const Arg& a, const char* expected) {
  throw Napi::TypeError::New(env, op.name + ": argument '" + a.name + "' expected " + expected);
}

int64_t toInt(Napi::Env env, const Op& op, const Arg& a, const Napi::Value& v) {
  if (v.IsNumber()) return v.As<Napi::Number>().Int64Value();
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  bad(env, op, a, "an integer");
}

c10::IValue convert(Napi::Env env, const Op& op, const Arg& a, const Napi::Value& v) {
  switch (a.kind) {
    case Kind::Tensor: return unwrap(env, v, op.name, a.name);
    case Kind::TensorList: {
      if (!v.IsArray()) bad(env, op, a, "an array of Tensors");
      Napi::Array arr = v.As<Napi::Array>();
      c10::List<at::Tensor> l;
      l.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) l.push_back(unwrap(env, arr.Get(i), op.name, a.name));
      return l;
    }
    case Kind::OptTensorList: {
      if (!v.IsArray()) bad(env, op, a, "an array of Tensors or nulls");
      Napi::Array arr = v.As<Napi::Array>();
      c10::List<c10::optional<at::Tensor>> l;
      l.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value e = arr.Get(i);
        if (e.IsNull() || e.IsUndefined()) l.push_back(c10::nullopt);
        else l.push_back(unwrap(env, e, op.name, a.name));
      }
      return l;
    }
    case Kind::Int: return toInt(env, op, a, v);
    case Kind::IntList: {
      if (v.IsNumber()) return std::vector<int64_t>(std::max(a.fixedN, 1), v.As<Napi::Number>().Int64Value());
      if (!v.IsArray()) bad(env, op, a, "an integer or an array of integers");
      Napi::Array arr = v.As<Napi::Array>();
      std::vector<int64_t> l(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) l[i] = toInt(env, op, a, arr.Get(i));
      return l;
    }
    case Kind::Float:
      if (!v.IsNumber()) bad(env, op, a, "a number");
      return v.As<Napi::Number>().DoubleValue();
    case Kind::FloatList: {
      if (v.IsNumber()) return std::vector<double>(std::max(a.fixedN, 1), v.As<Napi::Number>().DoubleValue());
      if (!v.IsArray()) bad(env, op, a, "an array of numbers");
      Napi::Array arr = v.As<Napi::Array>();
      std::vector<double> l(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) bad(env, op, a, "an array of numbers");
        l[i] = e.As<Napi::Number>().DoubleValue();
      }
      return l;
    }
    case Kind::Bool:
      if (!v.IsBoolean()) bad(env, op, a, "a boolean");
      return v.As<Napi::Boolean>().Value();
    case Kind::BoolList: {
      if (!v.IsArray()) bad(env, op, a, "an array of booleans");
      Napi::Array arr = v.As<Napi::Array>();
      c10::List<bool> l;
      for (uint32_t i = 0; i < arr.Length(); i++) l.push_back(arr.Get(i).ToBoolean());
      return l;
    }
    case Kind::Scalar: {
      // Python's rule: a whole number is an int Scalar, anything else a float.
      if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
      if (v.IsBigInt()) {
        bool lossless;
        return at::Scalar(v.As<Napi::BigInt>().Int64Value(&lossless));
      }
      if (!v.IsNumber()) bad(env, op, a, "a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.007199254740992e15) return at::Scalar(int64_t(d));
      return at::Scalar(d);
    }
    case Kind::String:
      if (!v.IsString()) bad(env, op, a, "a string");
      return v.As<Napi::String>().Utf8Value();
    case Kind::ScalarType:
    case Kind::Layout:
    case Kind::MemoryFormat: {  // boxed calls carry these enums as ints
      if (!v.IsNumber()) bad(env, op, a, "an enum code");
      // Kernels index tables with these codes unchecked: out of range is a segfault.
      int64_t code = v.As<Napi::Number>().Int64Value();
      int64_t n = a.kind == Kind::ScalarType ? int64_t(at::ScalarType::NumOptions)
                  : a.kind == Kind::Layout   ? int64_t(at::Layout::NumOptions)
                                             : int64_t(at::MemoryFormat::NumOptions);
      if (code < 0 || code >= n) bad(env, op, a, ("an enum code in [0, " + std::to_string(n) + ")").c_str());
      return code;
    }
    case Kind::Device:
      if (!v.IsString()) bad(env, op, a, "a device string such as 'cpu' or 'cuda:0'");
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case Kind::Generator: bad(env, op, a, "null (custom generators are not supported)");
  }
  bad(env, op, a, "a supported value");
}

Napi::Value toJs(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return wrap(env, v.toTensor());
  if (v.isNone()) return env.Undefined();
  if (v.isInt()) return Napi::Number::New(env, double(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isTensorList()) {
    auto l = v.toTensorList();
    Napi::Array a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a.Set(uint32_t(i), wrap(env, l.get(i)));
    return a;
  }
  if (v.isTuple()) {
    const auto& els = v.toTupleRef().elements();
    Napi::Array a = Napi::Array::New(env, els.size());
    for (size_t i = 0; i < els.size(); i++) a.Set(uint32_t(i), toJs(env, els[i]));
    return a;
  }
  if (v.isIntList()) {
    auto l = v.toIntList();
    Napi::Array a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a.Set(uint32_t(i), Napi::Number::New(env, double(l.get(i))));
    return a;
  }
  throw Napi::Error::New(env, std::string("cannot return a value of type ") + v.tagKind() + " to JS");
}

// lookupOp(name: 'aten::add', overload: 'Tensor') -> [handle, schema string]
Napi::Value lookupOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), overload.c_str());
  const auto& schema = handle.schema();
  Op op{overload.empty() ? name : name + "." + overload, handle, {}, {}};
  for (const auto& a : schema.arguments()) {
    const c10::TypePtr& t = a.real_type();
    bool optional = t->kind() == c10::TypeKind::OptionalType;
    const c10::TypePtr inner = optional ? t->expectRef<c10::OptionalType>().getElementType() : t;
    op.args.push_back(Arg{a.name(), kindOf(inner, op.name, a.name()), optional, a.N() ? int(*a.N()) : 0, a.default_value()});
  }
  for (const auto& r : schema.returns()) op.returnsInPlace.push_back(r.alias_info() && r.alias_info()->isWrite());
  ops().push_back(std::move(op));
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, double(ops().size() - 1)));
  out.Set(1u, Napi::String::New(env, c10::toString(schema)));
  return out;
  ST_CATCH(env)
}

// callOp(handle, args[]) -> result (a value, or an array for several returns)
Napi::Value callOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ST_TRY
  uint32_t h = info[0].As<Napi::Number>().Uint32Value();
  if (h >= ops().size()) throw Napi::RangeError::New(env, "callOp: unknown operator handle");
  const Op& op = ops()[h];
  Napi::Array args = info[1].As<Napi::Array>();
  uint32_t given = args.Length();
  if (given > op.args.size())
    throw Napi::TypeError::New(env, op.name + ": " + std::to_string(given) + " arguments given, at most " + std::to_string(op.args.size()) + " accepted");
  torch::jit::Stack stack;
  stack.reserve(std::max(op.args.size(), op.returnsInPlace.size()));
  for (size_t i = 0; i < op.args.size(); i++) {
    const Arg& a = op.args[i];
    Napi::Value v = i < given ? args.Get(uint32_t(i)) : env.Undefined();
    if (v.IsUndefined() || v.IsNull()) {
      if (a.def) stack.push_back(*a.def);
      else if (a.optional) stack.emplace_back();
      else throw Napi::TypeError::New(env, op.name + ": missing argument '" + a.name + "'");
    } else {
      stack.push_back(convert(env, op, a, v));
    }
  }
  op.handle.callBoxed(stack);
  size_t n = op.returnsInPlace.size();
  if (n == 0) return env.Undefined();
  if (n == 1) return op.returnsInPlace[0] ? env.Undefined() : toJs(env, stack[0]);
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) out.Set(uint32_t(i), op.returnsInPlace[i] ? env.Undefined() : toJs(env, stack[i]));
  return out;
  ST_CATCH(env)
}

}  // namespace

void initOps(Napi::Env env, Napi::Object exports) {
  exports.Set("lookupOp", Napi::Function::New(env, lookupOp, "lookupOp"));
  exports.Set("callOp", Napi::Function::New(env, callOp, "callOp"));
}

}  // namespace st
