"""kmesh_fuzz_test: one libFuzzer target, also an ordinary test.

kmesh_fuzz_test(name, srcs, deps, corpus) defines

  <name>_lib     the fuzz entry (LLVMFuzzerTestOneInput in `srcs`);
  <name>         a cc_test (gcc, part of `bazel test //...`) that runs the
                 entry once on every file under `corpus` (seed inputs and
                 regression inputs of bugs found), so a crash or a failed
                 check on any of them fails the test;
  <name>_fuzzer  the libFuzzer binary under --config=fuzz (clang-14, ASan,
                 UBSan; tag "kmesh_fuzzer", which tools/fuzz looks for).
                 Outside that config it links the replay main instead, so
                 it still builds with gcc.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

def kmesh_fuzz_test(name, srcs, deps = [], corpus = None, size = "small", **kwargs):
    """Defines a fuzz target; see the file's comment.

    Args:
      name: the test's name (conventionally ending in _fuzz_test).
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: what they need.
      corpus: the seed corpus directory, relative to the package
        (default "fuzz/corpus/<name without _fuzz_test>").
      size: the replay test's size.
      **kwargs: passed to every rule (e.g. tags, visibility).
    """
    if corpus == None:
        corpus = "fuzz/corpus/" + name.replace("_fuzz_test", "")
    corpus_path = native.package_name() + "/" + corpus
    tags = kwargs.pop("tags", [])
    cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        alwayslink = True,
        **kwargs
    )
    cc_test(
        name = name,
        size = size,
        args = [corpus_path],
        data = native.glob([corpus + "/**"]),
        tags = tags,
        deps = [
            ":" + name + "_lib",
            "//tools/fuzzing:corpus_replay_main",
        ],
        **kwargs
    )
    cc_binary(
        name = name + "_fuzzer",
        testonly = True,
        data = native.glob([corpus + "/**"]),
        linkopts = select({
            "//tools/fuzzing:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = tags + ["kmesh_fuzzer", "manual"],
        deps = [":" + name + "_lib"] + select({
            "//tools/fuzzing:fuzzing": [],
            "//conditions:default": ["//tools/fuzzing:corpus_replay_main"],
        }),
        **kwargs
    )
