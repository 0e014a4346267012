/* Entry points of ckube's roles. Each takes the arguments after the role name (argv[0] is the
 * role) and returns the process exit status. */
#pragma once

int server_main(int argc, char **argv);
int kubectl_main(int argc, char **argv);
