module github.com/DataDog/datadog-agent/pkg/template

go 1.26.0
