// C entry points over libtorch's C++ API for what tch 0.26 leaves out (see src/lib.rs).
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <c10/core/ScalarType.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/headeronly/version.h>

#include <cstdint>
#include <exception>
#include <set>
#include <string>

namespace {
thread_local std::string last_error;

c10::DeviceType device_type(int32_t cuda) {
  return cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
}
}  // namespace

extern "C" {

// What decides libtorch's CPU kernels: `what` 0: ATen's CPU capability (DEFAULT, AVX2, AVX512),
// 1: MKL's version, 2: oneDNN's version, 3: the libtorch version. The string lives until the
// next call on this thread.
const char* tx_numerics(int32_t what) {
  thread_local std::string text;
  switch (what) {
    case 0: text = at::get_cpu_capability(); break;
    case 1: text = at::get_mkl_version(); break;
    case 2: text = at::get_mkldnn_version(); break;
    default:
      text = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
             "." + std::to_string(TORCH_VERSION_PATCH);
  }
  return text.c_str();
}

// The message of the last failed call on this thread ("" when none).
const char* tx_last_error() { return last_error.c_str(); }

// Whether autocast is on for the device type (`cuda` 0: CPU, 1: CUDA).
bool tx_autocast_enabled(int32_t cuda) {
  return at::autocast::is_autocast_enabled(device_type(cuda));
}

// The autocast dtype of the device type, as a c10::ScalarType number.
int32_t tx_autocast_dtype(int32_t cuda) {
  return static_cast<int32_t>(at::autocast::get_autocast_dtype(device_type(cuda)));
}

// Turns autocast on or off for the device type with the given dtype (c10::ScalarType number).
// Returns 0, or -1 with tx_last_error() set.
int32_t tx_autocast_set(int32_t cuda, bool enabled, int32_t dtype) {
  try {
    at::autocast::set_autocast_dtype(device_type(cuda), static_cast<c10::ScalarType>(dtype));
    at::autocast::set_autocast_enabled(device_type(cuda), enabled);
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
    return -1;
  }
}

// Whether autocast keeps the casts of trainable leaf tensors for the rest of the region.
bool tx_autocast_cache_enabled() { return at::autocast::is_autocast_cache_enabled(); }
void tx_autocast_set_cache_enabled(bool enabled) {
  at::autocast::set_autocast_cache_enabled(enabled);
}

// torch.autocast's nesting counter; its cast cache is cleared when the outermost region ends.
int32_t tx_autocast_enter() { return at::autocast::increment_nesting(); }
void tx_autocast_exit() {
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
}

// Starts the Kineto profiler on CPU operators. Returns 0, or -1 with tx_last_error() set.
int32_t tx_profiler_start() {
  try {
    using namespace torch::profiler::impl;
    ProfilerConfig config(ProfilerState::KINETO);
    std::set<ActivityType> activities{ActivityType::CPU};
    torch::autograd::profiler::prepareProfiler(config, activities);
    torch::autograd::profiler::enableProfiler(config, activities);
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
    return -1;
  }
}

// One recorded operator: its name, thread and [start, end) in nanoseconds.
typedef void (*tx_event_fn)(void* ctx, const char* name, uint64_t thread, uint64_t start_ns,
                            uint64_t end_ns);

// Stops the profiler and hands every recorded CPU operator to `each`. Returns the number of
// events, or -1 with tx_last_error() set.
int64_t tx_profiler_stop(tx_event_fn each, void* ctx) {
  try {
    auto result = torch::autograd::profiler::disableProfiler();
    int64_t count = 0;
    for (const auto& event : result->events()) {
      if (event.deviceType() != c10::DeviceType::CPU || event.isAsync()) continue;
      const std::string name = event.name();
      each(ctx, name.c_str(), event.startThreadId(), event.startNs(), event.endNs());
      ++count;
    }
    return count;
  } catch (const std::exception& e) {
    last_error = e.what();
    return -1;
  }
}
}
