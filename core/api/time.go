package api

import "time"

var timeZero time.Time
