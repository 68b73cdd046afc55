/*
 * A mailslot client in C: sends each argument as one message.
 *
 *   cc -o client client.c && ./client /mailslot/example hello world
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SLOT_PATH MESSAGE...\n", argv[0]);
        return 2;
    }
    /* Write-only opens never create: ENOENT means no server made the slot. */
    int client = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (client < 0) {
        perror(argv[1]);
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        size_t len = strlen(argv[i]);
        /* One write() is one message: taken whole (n == len) or refused
         * (EMSGSIZE too large, ENOSPC queue full, EPIPE server gone). */
        ssize_t n = write(client, argv[i], len);
        if (n < 0) {
            perror("write");
            return 1;
        }
        if ((size_t)n != len) {
            fprintf(stderr, "short write: %zd of %zu bytes\n", n, len);
            return 1;
        }
        printf("sent: %s\n", argv[i]);
    }
    close(client);
    return 0;
}
