/*
 * For the hold-*.so test helpers: while the file hold exists, wait, with
 * hold ".held" created for the test to see; then remove that file.
 */
#ifndef HOLD_H
#define HOLD_H

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void hold_while(const char *hold)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	char held[4096];
	int fd;

	if (!hold || access(hold, F_OK) != 0 || snprintf(held, sizeof(held), "%s.held", hold) >= (int)sizeof(held))
		return;
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	while (access(hold, F_OK) == 0)
		nanosleep(&pause, NULL);
	unlink(held);
}

#endif
