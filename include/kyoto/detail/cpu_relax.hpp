// kyoto/detail/cpu_relax.hpp
//
// cpu_relax(): the processor's spin-wait hint (x86 `pause`, AArch64 `yield`), for loops that wait
// on memory or on the clock. It saves power and, on a hyper-threaded core, leaves the pipeline to
// the sibling thread; elsewhere it does nothing.

#ifndef KYOTO_DETAIL_CPU_RELAX_HPP
#define KYOTO_DETAIL_CPU_RELAX_HPP

namespace kyoto::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

} // namespace kyoto::detail

#endif // KYOTO_DETAIL_CPU_RELAX_HPP
