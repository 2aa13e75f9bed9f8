// SPDX-License-Identifier: Apache-2.0
/*
 * Interleaved drops for the real-traffic benchmark: one thread sends one
 * packet to each target in turn, ROUNDS times, so that the kernel frees
 * packets of different drop keys (reason, location, pod) one after another,
 * as drops of a node interleave. Each target is a socket opened inside a
 * network namespace of its own (setns before socket(): a socket stays in the
 * namespace it was made in), so one process sends from several pods.
 *
 * Usage: drop-mix ROUNDS SECONDS PAYLOAD TARGET...
 *   TARGET = NETNS_PATH,udp,DST_IP,PORT   a UDP datagram (PAYLOAD bytes)
 *          | NETNS_PATH,raw,DST_IP,PROTO  a raw IP packet of protocol PROTO
 * Prints one JSON line: {"rounds":R,"sent":[n per target],"errors":[...],"seconds":S}
 * Built on demand by bench/support/flood.ts (cc -O2); not part of the product.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 16

struct target {
	int fd;
	struct sockaddr_in to;
	long long sent, errors;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char payload[1472];
	static struct target t[MAX_TARGETS];
	long long rounds, r;
	double seconds, start;
	int n = argc - 4, size;

	if (argc < 5 || n > MAX_TARGETS) {
		fprintf(stderr, "usage: %s ROUNDS SECONDS PAYLOAD NETNS,udp|raw,IP,PORT|PROTO...\n", argv[0]);
		return 2;
	}
	rounds = atoll(argv[1]);
	seconds = atof(argv[2]);
	size = atoi(argv[3]);
	if (size < 0 || size > (int)sizeof(payload)) {
		fprintf(stderr, "bad PAYLOAD\n");
		return 2;
	}
	memset(payload, 'a', size);
	for (int i = 0; i < n; i++) {
		char *spec = strdup(argv[4 + i]);
		char *path = strtok(spec, ","), *kind = strtok(NULL, ","), *ip = strtok(NULL, ","), *num = strtok(NULL, ",");
		int nsfd;

		if (!path || !kind || !ip || !num || inet_pton(AF_INET, ip, &t[i].to.sin_addr) != 1) {
			fprintf(stderr, "bad target: %s\n", argv[4 + i]);
			return 2;
		}
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
			perror(path);
			return 1;
		}
		close(nsfd);
		t[i].to.sin_family = AF_INET;
		if (strcmp(kind, "udp") == 0) {
			t[i].fd = socket(AF_INET, SOCK_DGRAM, 0);
			t[i].to.sin_port = htons((unsigned short)atoi(num));
		} else if (strcmp(kind, "raw") == 0) {
			t[i].fd = socket(AF_INET, SOCK_RAW, atoi(num));
		} else {
			fprintf(stderr, "bad kind: %s\n", kind);
			return 2;
		}
		if (t[i].fd < 0) {
			perror("socket");
			return 1;
		}
		free(spec);
	}
	start = now();
	for (r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			if (sendto(t[i].fd, payload, size, 0, (struct sockaddr *)&t[i].to, sizeof(t[i].to)) < 0)
				t[i].errors++;
			else
				t[i].sent++;
		}
		if ((r & 255) == 0 && now() - start >= seconds) {
			r++;
			break;
		}
	}
	printf("{\"rounds\":%lld,\"seconds\":%.6f,\"sent\":[", r, now() - start);
	for (int i = 0; i < n; i++)
		printf("%s%lld", i ? "," : "", t[i].sent);
	printf("],\"errors\":[");
	for (int i = 0; i < n; i++)
		printf("%s%lld", i ? "," : "", t[i].errors);
	printf("]}\n");
	return 0;
}
