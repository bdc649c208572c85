"""Native runtimes LUQ hands its plans to: llama.cpp (in-process), its HF -> GGUF converter, and
ggml's quantizers. Each module imports its package lazily and names the pip line when missing."""
