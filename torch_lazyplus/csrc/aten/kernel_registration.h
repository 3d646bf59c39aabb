#pragma once
// Registers the generated lazy kernels with the dispatcher. torch::Library::impl would also infer a
// schema from each kernel's C++ type to check it, which cost a sixth of the generated files' compile
// time; their signatures come from the schemas themselves (torchgen's DispatcherSignature).
#include <ATen/core/dispatch/Dispatcher.h>

#include <vector>

namespace lazyplus {

// Makes `kernel` the PrivateUse1 kernel of aten::`name`.`overload`, for the life of the process.
template <class FuncType>
void RegisterLazyKernel(const char* name, const char* overload, FuncType* kernel) {
  static auto* handles = new std::vector<c10::RegistrationHandleRAII>();  // never unregistered
  handles->push_back(c10::Dispatcher::singleton().registerImpl(
      c10::OperatorName(name, overload), c10::DispatchKey::PrivateUse1,
      c10::KernelFunction::makeFromUnboxedRuntimeFunction(kernel), c10::impl::CppSignature::make<FuncType>(),
      /*inferred_function_schema=*/nullptr, "lazyplus generated kernel"));
}

}  // namespace lazyplus
