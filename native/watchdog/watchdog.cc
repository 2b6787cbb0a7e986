// A deadline for synchronous JS calls on the thread that makes them (runtimes/python/watchdog.ts).
//
// Python apps run on the main thread (pyodide), where nothing in JS can stop time.sleep() or a long
// C call: only V8's TerminateExecution, requested from another thread, can. node:vm's `timeout` does
// that too but starts a thread per call (45-88 us); this addon keeps ONE watchdog thread per isolate
// and makes arming a mutex-protected store, so a call costs no syscall unless the thread must be
// woken early.
//
// call(fn, thisArg, deadlineMs, graceMs, interrupt, ...args):
//   - at deadlineMs: writes 2 (SIGINT) into `interrupt[0]` (pyodide's interrupt buffer, an Int32Array
//     over a SharedArrayBuffer, or null): Python raises KeyboardInterrupt at its next check and the
//     interpreter stays usable. pyodide reads and clears the slot in two steps, so a write landing in
//     between is lost: the write is repeated every kRepeat until the call returns (the guest must
//     ignore the repeats: runtimes/python/host.py). interrupt[1], when there, is set to 1 to tell the
//     caller that the interrupt fired;
//   - graceMs later, if the call still runs: isolate->TerminateExecution() (stops wasm loops,
//     Atomics.wait and busy sleeps); the call then throws an Error with code
//     ANOMALY_WATCHDOG_TERMINATED, and the isolate has been given back (CancelTerminateExecution):
//     a termination cannot be handled in JS, so it is handled here.
// Nested calls (a guarded function calling back into call()) run under the outer deadline.
#include <node.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();
constexpr auto kRepeat = std::chrono::milliseconds(2);

struct Watchdog {
  v8::Isolate* isolate;
  std::mutex mu;
  std::condition_variable cv;
  std::thread thread;
  // Everything below is guarded by mu. The thread acts (writes the interrupt, terminates) only
  // while holding mu and only on the call armed at that moment, and Arm() resets the state of the
  // previous call under mu: so the state itself is the generation. A Disarm() that takes mu after
  // the call returned knows exactly what happened to that call, and nothing fired for it can reach
  // the next one (a late termination request is cancelled there, a late SIGINT cleared).
  bool stopping = false;
  bool armed = false;
  Clock::time_point soft_at = kNever;
  Clock::time_point hard_at = kNever;
  bool soft_fired = false;
  bool hard_fired = false;
  int32_t* interrupt = nullptr;  // alive while armed: the caller's argument holds its buffer
  bool has_marker = false;       // interrupt[1] exists
  Clock::time_point sleeping_until = kNever;
  int depth = 0;  // main thread only: nesting of call()

  explicit Watchdog(v8::Isolate* i) : isolate(i) { thread = std::thread([this] { Run(); }); }

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      Clock::time_point next = kNever;
      if (armed) {
        const Clock::time_point now = Clock::now();
        if (now >= soft_at && !hard_fired) {
          if (interrupt != nullptr) {
            if (!soft_fired && has_marker) std::atomic_ref<int32_t>(interrupt[1]).store(1);
            std::atomic_ref<int32_t>(interrupt[0]).store(2);
          }
          soft_fired = true;
          if (now >= hard_at) {
            hard_fired = true;
            isolate->TerminateExecution();  // thread-safe; takes effect at V8's next interrupt check
          }
        }
        if (!soft_fired) next = soft_at;
        else if (!hard_fired) next = interrupt != nullptr ? std::min(hard_at, now + kRepeat) : hard_at;
      }
      // Sleep until the armed deadline, or until woken. A later call re-arms with a later deadline
      // without waking this thread: it wakes at the old time, sees the new one and sleeps again.
      sleeping_until = next;
      if (next == kNever) cv.wait(lock);
      else cv.wait_until(lock, next);
    }
  }

  void Arm(Clock::time_point soft, Clock::time_point hard, int32_t* slot, bool marker) {
    std::lock_guard<std::mutex> lock(mu);
    armed = true;
    soft_at = soft;
    hard_at = hard;
    soft_fired = hard_fired = false;
    interrupt = slot;
    has_marker = marker;
    // Wake the thread only if it would otherwise sleep past this deadline (idle, or a longer one).
    if (soft < sleeping_until) {
      sleeping_until = soft;
      cv.notify_one();
    }
  }

  // Ends the watch of the call that just returned; true if its termination was requested.
  bool Disarm() {
    std::lock_guard<std::mutex> lock(mu);
    armed = false;
    // A SIGINT Python did not consume (the call ended first) would hit the next call.
    if (soft_fired && interrupt != nullptr) std::atomic_ref<int32_t>(*interrupt).store(0);
    interrupt = nullptr;
    return hard_fired;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
      armed = false;
      cv.notify_one();
    }
    thread.join();
  }
};

void Cleanup(void* arg) {
  auto* w = static_cast<Watchdog*>(arg);
  w->Stop();
  delete w;
}

void ThrowTypeError(v8::Isolate* isolate, const char* message) {
  isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// The interrupt slot of an Int32Array over a SharedArrayBuffer (another thread writes it).
bool InterruptSlot(v8::Local<v8::Value> v, int32_t** out, bool* marker) {
  *out = nullptr;
  *marker = false;
  if (v->IsNullOrUndefined()) return true;
  if (!v->IsInt32Array()) return false;
  auto view = v.As<v8::Int32Array>();
  v8::Local<v8::ArrayBuffer> buffer = view->Buffer();
  if (!buffer->IsSharedArrayBuffer() || view->Length() < 1) return false;
  *out = reinterpret_cast<int32_t*>(static_cast<char*>(buffer.As<v8::SharedArrayBuffer>()->Data()) + view->ByteOffset());
  *marker = view->Length() >= 2;
  return true;
}

constexpr int kFixedArgs = 5;  // fn, thisArg, deadlineMs, graceMs, interrupt
constexpr int kMaxArgs = 8;

void Call(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* w = static_cast<Watchdog*>(info.Data().As<v8::External>()->Value());
  int32_t* slot;
  bool marker;
  if (info.Length() < kFixedArgs || !info[0]->IsFunction() || !info[2]->IsNumber() || !info[3]->IsNumber() ||
      !InterruptSlot(info[4], &slot, &marker) || info.Length() - kFixedArgs > kMaxArgs) {
    return ThrowTypeError(isolate, "call(fn, thisArg, deadlineMs, graceMs, interrupt: Int32Array over a SharedArrayBuffer | null, ...args up to 8)");
  }
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Function> fn = info[0].As<v8::Function>();
  v8::Local<v8::Value> argv[kMaxArgs];
  const int argc = info.Length() - kFixedArgs;
  for (int i = 0; i < argc; i++) argv[i] = info[kFixedArgs + i];

  if (w->depth > 0) {
    // Already under a deadline: an exception or a termination propagates to the outer call.
    v8::Local<v8::Value> result;
    if (fn->Call(context, info[1], argc, argv).ToLocal(&result)) info.GetReturnValue().Set(result);
    return;
  }

  // Clamped: NaN, negative or huge values must not overflow the clock (a day is "never" here).
  auto micros = [](double ms) { return std::chrono::microseconds(static_cast<int64_t>(std::clamp(ms, 0.0, 86'400'000.0) * 1000)); };
  const double deadline_ms = info[2].As<v8::Number>()->Value();
  const double grace_ms = info[3].As<v8::Number>()->Value();
  const Clock::time_point soft = Clock::now() + micros(deadline_ms == deadline_ms ? deadline_ms : 0);
  const Clock::time_point hard = soft + micros(grace_ms == grace_ms ? grace_ms : 0);

  bool terminated = false;
  {
    v8::TryCatch try_catch(isolate);
    w->Arm(soft, hard, slot, marker);
    w->depth++;
    v8::MaybeLocal<v8::Value> maybe = fn->Call(context, info[1], argc, argv);
    w->depth--;
    const bool termination_requested = w->Disarm();
    v8::Local<v8::Value> result;
    if (maybe.ToLocal(&result)) {
      // Terminated just as the call returned: the request may still be pending in V8; drop it.
      if (termination_requested) isolate->CancelTerminateExecution();
      info.GetReturnValue().Set(result);
      return;
    }
    if (try_catch.HasTerminated()) {
      // JS frames (our caller's) are still on the stack: give the isolate back to them.
      isolate->CancelTerminateExecution();
      terminated = true;
    } else {
      if (termination_requested) isolate->CancelTerminateExecution();
      try_catch.ReThrow();
      return;
    }
  }
  // Thrown after the TryCatch scope, which would otherwise catch it.
  if (terminated) {
    v8::Local<v8::Value> error = v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "the call was terminated at its deadline (it did not stop at the interrupt)"));
    error.As<v8::Object>()
        ->Set(context, v8::String::NewFromUtf8Literal(isolate, "code"), v8::String::NewFromUtf8Literal(isolate, "ANOMALY_WATCHDOG_TERMINATED"))
        .Check();
    isolate->ThrowException(error);
  }
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = context->GetIsolate();
  auto* w = new Watchdog(isolate);
  node::AddEnvironmentCleanupHook(isolate, Cleanup, w);
  v8::Local<v8::Function> call = v8::FunctionTemplate::New(isolate, Call, v8::External::New(isolate, w))->GetFunction(context).ToLocalChecked();
  exports->Set(context, v8::String::NewFromUtf8Literal(isolate, "call"), call).Check();
}
