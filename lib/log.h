/* Leveled logging to stderr: "<RFC 3339 time> <LEVEL> <message>". Daemons log state changes a
 * node operator needs to see; debug lines appear with CKUBE_LOG=debug. */
#pragma once

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
/* Reads CKUBE_LOG (debug|info|warn|error) from the environment. */
void log_init_from_env(void);
int log_enabled(enum log_level level);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...)                                             \
	do {                                                       \
		if (log_enabled(LOG_LEVEL_DEBUG))                  \
			log_message(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_info(...) log_message(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_message(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_message(LOG_LEVEL_ERROR, __VA_ARGS__)
