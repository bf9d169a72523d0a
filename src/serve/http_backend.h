// What the HTTP layer needs from a generation engine: submit, cancel, metrics. The serving Engine
// is one (EngineBackend); tests plug in scripted fakes to drive every path of the HTTP layer.
#pragma once
#include <cstdint>

#include "infer/engine.h"

namespace frugal::serve {

class GenerationBackend {
 public:
  virtual ~GenerationBackend() = default;
  // Queues a request (see Engine::submit); throws EngineBusy when the queue is full and
  // frugal::Error (kInvalidArgument) for a request the engine refuses.
  virtual uint64_t submit(GenRequest req) = 0;
  virtual void cancel(uint64_t id) = 0;  // any thread; no-op for finished ids
  virtual EngineMetrics metrics() const = 0;
};

class EngineBackend : public GenerationBackend {
 public:
  explicit EngineBackend(Engine& engine) : engine_(engine) {}
  uint64_t submit(GenRequest req) override { return engine_.submit(std::move(req)); }
  void cancel(uint64_t id) override { engine_.cancel(id); }
  EngineMetrics metrics() const override { return engine_.metrics(); }

 private:
  Engine& engine_;
};

}  // namespace frugal::serve
