#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"generate", cmd_generate, "generate text from a GGUF Llama model"},
    {"convert-llama2c", cmd_convert_llama2c, "convert a llama2.c checkpoint and tokenizer to GGUF"},
    {"tokenize", cmd_tokenize, "print the token ids of a text (no BOS)"},
    {"info", cmd_info, "show a GGUF file's metadata and tensors"},
    {"bench", cmd_bench, "measure prompt and generation speed"},
    {"cnn-info", cmd_cnn_info, "show a TFLite model's operators, tensors and arena plan"},
    {"classify", cmd_classify, "classify images with a TFLite model"},
    {"cnn-bench", cmd_cnn_bench, "per-layer and whole-model latency of a TFLite model"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: frugal <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "\nrun 'frugal <command> --help' for a command's options\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name))
            return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "frugal: unknown command '%s' (see 'frugal --help')\n", argv[1]);
    return 2;
}
