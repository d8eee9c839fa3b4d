/* The `frugal` command-line tool: one function per subcommand, each in its own file.
 * Each returns the process exit code (0 on success, 1 on a runtime error, 2 on bad usage)
 * and prints errors as one line on stderr: "frugal <cmd>: <file or option>: <what is wrong>". */
#ifndef FR_CLI_COMMANDS_H
#define FR_CLI_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_convert_llama2c(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_cnn_info(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_cnn_bench(int argc, char **argv);

#endif
