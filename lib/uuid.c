#include "uuid.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

int uuid_generate_v4(char out[UUID_TEXT_SIZE], struct ck_error *err)
{
	unsigned char bytes[16];
	size_t filled = 0;
	while (filled < sizeof(bytes)) {
		ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return ck_error_errno(err, errno, "generate a UUID: getrandom");
		}
		filled += (size_t)got;
	}
	bytes[6] = (unsigned char)((bytes[6] & 0x0F) | 0x40); /* version 4 */
	bytes[8] = (unsigned char)((bytes[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	snprintf(out, UUID_TEXT_SIZE,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
		 bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
		 bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
	return 0;
}
