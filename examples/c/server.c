/*
 * A mailslot server in C: creates the slot, waits for messages with poll(),
 * prints each one, and stops after the message "quit" (or after a minute
 * without any).
 *
 *   cc -o server server.c && ./server /mailslot/example
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SLOT_PATH\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];

    /* O_CREAT with read access creates the slot: this fd is the server
     * handle, the only one that may read. O_EXCL: fail with EEXIST if
     * another server holds the name. */
    int server = open(path, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0666);
    if (server < 0) {
        perror(path);
        return 1;
    }
    /* Public, as a Windows mailslot is: every user may open it as a client
     * (the umask, usually 022, took the write bits from the mode above). */
    if (fchmod(server, 0666) < 0) {
        perror(path);
        return 1;
    }

    /* GetMailslotInfo: with a buffer of the slot's maximum message size a
     * read never fails with EMSGSIZE. */
    char value[32];
    ssize_t len = fgetxattr(server, "user.mailslot.max_message_size", value, sizeof value - 1);
    if (len < 0) {
        perror("fgetxattr");
        return 1;
    }
    value[len] = '\0';
    size_t size = strtoul(value, NULL, 10);
    char *buf = malloc(size);
    if (buf == NULL) {
        perror("malloc");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        /* The server fd works with poll/select/epoll like a pipe: readable
         * when a message is queued. */
        struct pollfd p = { .fd = server, .events = POLLIN };
        int ready = poll(&p, 1, 60 * 1000);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            perror("poll");
            return 1;
        }
        if (ready == 0) {
            printf("no message for a minute; stopping\n");
            break;
        }
        ssize_t n = read(server, buf, size); /* one whole message */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("read");
            return 1;
        }
        if (n == 0) /* the slot's read timeout passed (none is set here) */
            break;
        printf("received: %.*s\n", (int)n, buf);
        fflush(stdout);
        if (n == 4 && memcmp(buf, "quit", 4) == 0)
            break;
    }
    free(buf);
    close(server); /* the slot goes away with its server handle */
    return 0;
}
