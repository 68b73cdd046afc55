/* A Windows mailslot client, built with mingw-w64 and run under Wine by
 * tests/wine.rs: it opens mailslots the way Windows programs do and prints
 * one line per step, which the test reads.
 *
 *   client.exe STEP...
 *
 *   write:NAME:API:ACCESS:MODE:SIZE:TAG
 *       CreateFileA (API A) or CreateFileW (API W) of NAME with GENERIC_WRITE
 *       (ACCESS w) or GENERIC_READ|GENERIC_WRITE (ACCESS rw), FILE_SHARE_READ,
 *       OPEN_EXISTING, as Microsoft's sample does; then one WriteFile of SIZE
 *       bytes: TAG, padded with '.'. MODE sync: a plain WriteFile; overlapped:
 *       a handle opened with FILE_FLAG_OVERLAPPED, an OVERLAPPED at offset
 *       4096, and GetOverlappedResult; offset: a plain handle with an
 *       OVERLAPPED at offset 512.
 *       Prints "write TAG ok N" or "write TAG err CODE" (CODE from
 *       GetLastError, "open" or "write" naming the call that failed).
 *   open:NAME
 *       CreateFileA(GENERIC_WRITE, OPEN_EXISTING): "open ok" or "open err CODE".
 *   info:NAME
 *       What a client handle (GENERIC_READ|GENERIC_WRITE) answers:
 *       "info type T size S|err CODE mailslotinfo ok|err CODE read ok N|err CODE".
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static HANDLE open_client(const char *name, char api, DWORD access, DWORD flags)
{
    if (api == 'W') {
        WCHAR wide[1024];
        if (!MultiByteToWideChar(CP_UTF8, 0, name, -1, wide, 1024))
            return INVALID_HANDLE_VALUE;
        return CreateFileW(wide, access, FILE_SHARE_READ, NULL, OPEN_EXISTING, flags, NULL);
    }
    return CreateFileA(name, access, FILE_SHARE_READ, NULL, OPEN_EXISTING, flags, NULL);
}

static void step_write(char *args)
{
    char *name = strtok(args, ":");
    char *api = strtok(NULL, ":");
    char *access = strtok(NULL, ":");
    char *mode = strtok(NULL, ":");
    char *size_text = strtok(NULL, ":");
    char *tag = strtok(NULL, ":");
    if (!name || !api || !access || !mode || !size_text || !tag) {
        printf("write usage\n");
        return;
    }
    DWORD size = (DWORD)atol(size_text);
    DWORD rights = strcmp(access, "rw") == 0 ? GENERIC_READ | GENERIC_WRITE : GENERIC_WRITE;
    int overlapped = strcmp(mode, "overlapped") == 0;
    int offset = strcmp(mode, "offset") == 0;
    HANDLE h = open_client(name, api[0], rights, overlapped ? FILE_FLAG_OVERLAPPED : 0);
    if (h == INVALID_HANDLE_VALUE) {
        printf("write %s err open %lu\n", tag, GetLastError());
        return;
    }
    char *data = malloc(size + 1);
    memset(data, '.', size);
    size_t taglen = strlen(tag);
    memcpy(data, tag, taglen < size ? taglen : size);

    DWORD written = 0;
    BOOL ok;
    if (overlapped || offset) {
        OVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        ov.Offset = overlapped ? 4096 : 512;
        ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
        ok = WriteFile(h, data, size, &written, &ov);
        if (!ok && GetLastError() == ERROR_IO_PENDING)
            ok = GetOverlappedResult(h, &ov, &written, TRUE);
        CloseHandle(ov.hEvent);
    } else {
        ok = WriteFile(h, data, size, &written, NULL);
    }
    if (ok)
        printf("write %s ok %lu\n", tag, written);
    else
        printf("write %s err write %lu\n", tag, GetLastError());
    free(data);
    CloseHandle(h);
}

static void step_open(char *name)
{
    HANDLE h = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        printf("open err %lu\n", GetLastError());
        return;
    }
    printf("open ok\n");
    CloseHandle(h);
}

static void step_info(char *name)
{
    HANDLE h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ, NULL,
                           OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        printf("info err open %lu\n", GetLastError());
        return;
    }
    printf("info type %lu", GetFileType(h));
    DWORD high = 0;
    SetLastError(0);
    DWORD low = GetFileSize(h, &high);
    if (low == INVALID_FILE_SIZE && GetLastError() != NO_ERROR)
        printf(" size err %lu", GetLastError());
    else
        printf(" size %lu", low);
    DWORD max = 0, next = 0, count = 0, timeout = 0;
    if (GetMailslotInfo(h, &max, &next, &count, &timeout))
        printf(" mailslotinfo ok");
    else
        printf(" mailslotinfo err %lu", GetLastError());
    char buf[64];
    DWORD got = 0;
    if (ReadFile(h, buf, sizeof buf, &got, NULL))
        printf(" read ok %lu\n", got);
    else
        printf(" read err %lu\n", GetLastError());
    CloseHandle(h);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *colon = strchr(argv[i], ':');
        if (!colon) {
            printf("bad step %s\n", argv[i]);
            continue;
        }
        *colon = '\0';
        char *rest = colon + 1;
        if (strcmp(argv[i], "write") == 0)
            step_write(rest);
        else if (strcmp(argv[i], "open") == 0)
            step_open(rest);
        else if (strcmp(argv[i], "info") == 0)
            step_info(rest);
        else
            printf("bad step %s\n", argv[i]);
        fflush(stdout);
    }
    return 0;
}
