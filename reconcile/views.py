from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def overview(request):
    return HttpResponse("Tally")


run_list = run_detail = item_list = order_detail = overview
