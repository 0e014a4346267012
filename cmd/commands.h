/* Entry points of ckube's roles. Each takes the arguments after the role name (argv[0] is the
 * role) and returns the process exit status. */
#pragma once

int server_main(int argc, char **argv);
int kubectl_main(int argc, char **argv);
int agent_main(int argc, char **argv);
int status_main(int argc, char **argv);
int image_main(int argc, char **argv);
int run_main(int argc, char **argv);
int exec_main(int argc, char **argv);
int rm_main(int argc, char **argv);
int wait_main(int argc, char **argv);
int network_main(int argc, char **argv);
int proxy_main(int argc, char **argv);
int volume_main(int argc, char **argv);
