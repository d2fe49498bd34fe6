// ThreadSanitizer's built-in suppressions for --config=tsan (the runtime
// calls this weak hook at start). Each entry names exact library frames and
// says why; the project's own frames are never suppressed.

#if defined(__SANITIZE_THREAD__)

extern "C" __attribute__((visibility("default"), used)) const char*
__tsan_default_suppressions() {
  return "";
}

#endif  // __SANITIZE_THREAD__
