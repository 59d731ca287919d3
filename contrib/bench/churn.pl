#!/usr/bin/perl
# churn.pl — a steady load of file operations for daemon.sh.
#
# usage: churn.pl DIRLIST SECONDS RATE
#
# For SECONDS, about RATE operations a second (paced every 10 ms) in the
# directories listed one per line in DIRLIST: create an empty file, rename
# one, or delete one, chosen at random (creating more while fewer than 200
# exist).  Every file it made and did not delete is deleted at the end, so
# the tree is as before.  Prints "OPS ELAPSED" on stdout.
use strict;
use warnings;
use Time::HiRes qw(time sleep);

my ($list, $secs, $rate) = @ARGV;
die "usage: churn.pl DIRLIST SECONDS RATE\n" unless defined $rate;
open(my $fh, '<', $list) or die "churn.pl: $list: $!\n";
chomp(my @dirs = <$fh>);
close $fh;
die "churn.pl: no directories in $list\n" unless @dirs;

srand(42);
my @live;
my ($ops, $seq) = (0, 0);
my $t0 = time;
my $end = $t0 + $secs;
while ((my $now = time) < $end) {
	my $due = int(($now - $t0) * $rate);
	while ($ops < $due) {
		my $r = rand;
		if (@live < 200 || $r < 0.34) {
			my $p = $dirs[int(rand @dirs)] . sprintf('/churn-%07d', $seq++);
			open(my $f, '>', $p) or die "churn.pl: $p: $!\n";
			close $f;
			push @live, $p;
		} elsif ($r < 0.67) {
			my $i = int(rand @live);
			my $p = $dirs[int(rand @dirs)] . sprintf('/churn-%07d', $seq++);
			rename($live[$i], $p) or die "churn.pl: rename $live[$i]: $!\n";
			$live[$i] = $p;
		} else {
			my $i = int(rand @live);
			unlink($live[$i]) or die "churn.pl: unlink $live[$i]: $!\n";
			$live[$i] = $live[-1];
			pop @live;
		}
		$ops++;
	}
	sleep(0.01);
}
my $elapsed = time - $t0;
unlink @live;
printf "%d %.2f\n", $ops, $elapsed;
