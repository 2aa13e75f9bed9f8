// SPDX-License-Identifier: Apache-2.0
/*
 * A UDP flood for the benchmarks: sends COUNT datagrams of PAYLOAD bytes to
 * HOST:PORT as fast as one thread can (sendmmsg, BATCH datagrams per system
 * call, unconnected socket so that ICMP port-unreachable replies never turn
 * into send errors), and stops early after SECONDS. Prints one JSON line:
 *   {"sent":N,"errors":E,"seconds":S,"cpu":C}
 * where C is this process's CPU time (user + system, getrusage). On veth the
 * receive path runs as softirq in the sender's context, and without
 * CONFIG_IRQ_TIME_ACCOUNTING that time is charged to the sender too: C is the
 * CPU the whole path took, whatever else ran on the machine meanwhile.
 * Built on demand by bench/support/flood.ts (cc -O2); not part of the product.
 *
 * Usage: udp-flood HOST PORT COUNT SECONDS PAYLOAD [BATCH]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char payload[65507];
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov;
	struct sockaddr_in to = { .sin_family = AF_INET };
	long long count, sent = 0, errors = 0;
	double seconds, start, elapsed, cpu;
	struct rusage ru;
	int fd, size, batch;

	if (argc < 6) {
		fprintf(stderr, "usage: %s HOST PORT COUNT SECONDS PAYLOAD [BATCH]\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", argv[1]);
		return 2;
	}
	to.sin_port = htons((unsigned short)atoi(argv[2]));
	count = atoll(argv[3]);
	seconds = atof(argv[4]);
	size = atoi(argv[5]);
	batch = argc > 6 ? atoi(argv[6]) : 64;
	if (size < 0 || size > (int)sizeof(payload) || batch < 1 || batch > MAX_BATCH || count < 0) {
		fprintf(stderr, "bad PAYLOAD or BATCH\n");
		return 2;
	}
	memset(payload, 'a', size);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	iov.iov_base = payload;
	iov.iov_len = size;
	for (int i = 0; i < batch; i++) {
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	start = now();
	elapsed = 0;
	while (sent < count) {
		int n = count - sent < batch ? (int)(count - sent) : batch;
		int r = sendmmsg(fd, msgs, n, 0);

		if (r < 0) {
			/* ENOBUFS and the like under overload: the datagram is lost, count it and go on. */
			errors++;
			sent++;
		} else {
			sent += r;
		}
		/* Check the clock every batch: cheap beside the batch's sends. */
		elapsed = now() - start;
		if (elapsed >= seconds)
			break;
	}
	elapsed = now() - start;
	close(fd);
	getrusage(RUSAGE_SELF, &ru);
	cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("{\"sent\":%lld,\"errors\":%lld,\"seconds\":%.6f,\"cpu\":%.6f}\n", sent - errors, errors, elapsed, cpu);
	return 0;
}
