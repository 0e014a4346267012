/* For unit tests that check what the kernel holds with the tools a person would use (nft, ip):
 * a shell command's output, stderr joined to stdout. */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* Runs the formatted command through the shell, puts up to len - 1 bytes of its output in
 * `out`, and returns its exit status (-1 when it did not exit). */
static int shell_output(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int shell_output(char *out, size_t len, const char *fmt, ...)
{
	char command[1024];
	size_t used = 0;
	va_list ap;
	FILE *pipe;
	int status;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command), fmt, ap);
	va_end(ap);
	strncat(command, " 2>&1", sizeof(command) - strlen(command) - 1);
	pipe = popen(command, "r");
	if (!pipe)
		return -1;
	while (used + 1 < len) {
		size_t n = fread(out + used, 1, len - 1 - used, pipe);
		if (n == 0)
			break;
		used += n;
	}
	out[used] = '\0';
	status = pclose(pipe);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
