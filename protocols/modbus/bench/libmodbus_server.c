/* A select()-based libmodbus 3.1.6 server, the usual pattern from its documentation, as the
 * reference point of protocols/modbus/bench.sh (not part of the library).
 *   libmodbus_server PORT     (0: any free port; prints "listening on PORT" once ready)
 * Answers every unit id from one mapping of 10 000 holding and input registers. */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 0;
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	modbus_mapping_t *mb = modbus_mapping_new(100, 100, 10000, 10000);
	if (!ctx || !mb)
		return 1;
	for (int i = 0; i < 10000; i++)
		mb->tab_registers[i] = (uint16_t)i;
	int srv = modbus_tcp_listen(ctx, 200);
	if (srv < 0) {
		fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
		return 1;
	}
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	getsockname(srv, (struct sockaddr *)&sa, &sl);
	printf("listening on %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	fd_set all;
	FD_ZERO(&all);
	FD_SET(srv, &all);
	int fdmax = srv;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	for (;;) {
		fd_set rd = all;
		if (select(fdmax + 1, &rd, NULL, NULL, NULL) < 0) {
			perror("select");
			return 1;
		}
		for (int fd = 0; fd <= fdmax; fd++) {
			if (!FD_ISSET(fd, &rd))
				continue;
			if (fd == srv) {
				int c = accept(srv, NULL, NULL);
				if (c >= 0 && c < FD_SETSIZE) {
					FD_SET(c, &all);
					if (c > fdmax)
						fdmax = c;
				} else if (c >= 0) {
					close(c);
				}
				continue;
			}
			modbus_set_socket(ctx, fd);
			int rc = modbus_receive(ctx, q);
			if (rc > 0) {
				modbus_reply(ctx, q, rc, mb);
			} else if (rc < 0) {
				close(fd);
				FD_CLR(fd, &all);
			}
		}
	}
}
