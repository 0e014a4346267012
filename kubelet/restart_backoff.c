/* The restart back-off of a container: see restart_backoff.h. */
#include "kubelet/restart_backoff.h"

int64_t restart_backoff_step(struct restart_backoff *backoff, int64_t ran_ms)
{
	int64_t delay;

	if (ran_ms >= RESTART_BACKOFF_RESET_MS)
		backoff->next_ms = 0;
	delay = backoff->next_ms;
	if (ran_ms < 0 && delay < RESTART_BACKOFF_FIRST_MS)
		delay = RESTART_BACKOFF_FIRST_MS;
	backoff->current_ms = delay;
	backoff->next_ms = delay ? 2 * delay : RESTART_BACKOFF_FIRST_MS;
	if (backoff->next_ms > RESTART_BACKOFF_MAX_MS)
		backoff->next_ms = RESTART_BACKOFF_MAX_MS;
	return delay;
}
