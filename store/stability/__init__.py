"""Stability studies (ICH Q1A(R2), Q1E): studies and pulls (service), the pull schedule, notations of conditions
and time points, results read from files and recorded, significant change, the Q1E statistics, the data
package (report), the reminders, digest and App Home lines (rules), and what they import from a tracker and
export (tracker)."""
