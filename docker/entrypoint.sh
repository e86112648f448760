#!/bin/sh
# web | worker | beat | migrate | any manage.py command
set -e
case "$1" in
  web)
    exec gunicorn portal.wsgi --bind 0.0.0.0:8000 --worker-class gthread \
      --workers "${GUNICORN_WORKERS:-2}" --threads "${GUNICORN_THREADS:-8}" --timeout 60
    ;;
  worker)
    exec celery -A portal worker --queues default,scaffolder,poll --concurrency "${CELERY_CONCURRENCY:-2}" --loglevel INFO
    ;;
  beat)
    exec celery -A portal beat --loglevel INFO --schedule /var/lib/portal/celerybeat-schedule
    ;;
  migrate)
    exec python manage.py migrate --noinput
    ;;
  *)
    exec python manage.py "$@"
    ;;
esac
