// Sanitizer hooks linked into every binary built with --config=asan
// (.bazelrc: --custom_malloc): LeakSanitizer's built-in suppressions (the
// runtime calls this weak hook at start). Each entry names exact library
// frames and says why. Compiles to nothing without -fsanitize=address.

#if defined(__SANITIZE_ADDRESS__)

extern "C" __attribute__((visibility("default"), used)) const char*
__lsan_default_suppressions() {
  return "";
}

#endif  // __SANITIZE_ADDRESS__
