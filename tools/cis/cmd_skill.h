/* `cis skill ...`: argv[0] is the subcommand (install, list, show, run,
 * remove, init, help). Returns the process exit code. */
#ifndef CIS_TOOLS_CMD_SKILL_H
#define CIS_TOOLS_CMD_SKILL_H
int cis_cmd_skill(int argc, char **argv);
/* `cis skill init NAME --lang c|rust|as` (cmd_skill_init.c). */
int cis_cmd_skill_init(int argc, char **argv);
/* `cis skill sign` and `cis key` (cmd_key.c). */
int cli_cmd_skill_sign(int argc, char **argv);
int cli_cmd_key(int argc, char **argv);
#endif
