/* This file implements the native reference of bench/startup.sh: a
 * program that does nothing, so that what it costs is what any dynamically
 * linked C program costs to start and exit (the loader, libc). */
int main(void) { return 0; }
